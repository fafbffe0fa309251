"""``--model`` values for commands: a registry name, or a path to a local checkpoint folder /
``.onnx`` file, which is registered under its own name for this run."""
from __future__ import annotations

from pathlib import Path


def resolve_model(registry, value: str) -> str:
    """The registry name for ``value`` (registering a local checkpoint path on the fly)."""
    path = Path(value).expanduser()
    known = set(registry.names())
    if value in known or not path.exists():
        return value  # unknown names fail later with the registry's own error (close matches listed)
    name = path.stem if path.suffix == ".onnx" else path.name
    if name in known:
        if registry.spec(name).location == str(path.resolve()):
            return name  # the same checkpoint, registered by an earlier command in this process
        name = f"{path.parent.name}/{name}" if f"{path.parent.name}/{name}" not in known else str(path)
    registry.register(name, path, replace_existing=True, description=f"local checkpoint {path}")
    return name
