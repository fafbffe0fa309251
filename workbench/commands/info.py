"""``workbench info``: package versions, compute device, caches, asset path, offline models."""
from __future__ import annotations

import argparse
import json
import os
import platform
from importlib.metadata import PackageNotFoundError, version

PACKAGES = ("workbench", "torch", "transformers", "huggingface-hub", "safetensors", "onnxruntime", "onnx",
            "misaki", "numpy", "pandas", "librosa", "soundfile", "jiwer", "umap-learn", "scikit-learn",
            "matplotlib", "ipywidgets", "jupyterlab", "voila", "dask", "distributed")


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("info", help="versions, device, caches, asset path and offline models")
    p.add_argument("--json", action="store_true", help="print one JSON object instead of text")
    p.set_defaults(func=run)


def _version(package: str) -> str | None:
    try:
        return version(package)
    except PackageNotFoundError:
        return None


def collect() -> dict:
    """Everything ``workbench info`` reports, as plain data."""
    from huggingface_hub import constants

    from .. import settings
    from ..models.registry import default_registry

    info: dict = {
        "python": platform.python_version(),
        "platform": platform.platform(),
        "packages": {p: _version(p) for p in PACKAGES},
    }
    try:
        import torch

        cuda = torch.cuda.is_available()
        info["torch"] = {"threads": torch.get_num_threads(), "cuda": cuda,
                         "device": torch.cuda.get_device_name(0) if cuda else "cpu"}
    except ImportError:
        info["torch"] = None
    info["cpu_count"] = os.cpu_count()
    info["workbench_cache"] = str(settings.cache_dir())
    info["hf_hub_cache"] = str(constants.HF_HUB_CACHE)
    info["hf_hub_offline"] = settings.hf_offline()
    info["asset_path"] = [{"folder": str(f), "exists": f.is_dir()} for f in settings.asset_path()]
    reg = default_registry()
    table = reg.catalog()
    models = table[table["kind"] != "voice"]
    voice_rows = table[table["kind"] == "voice"]
    info["models_offline"] = {row.name: bool(row.available_offline) for row in models.itertuples()}
    info["voices_offline"] = int(voice_rows["available_offline"].sum())
    info["voices_known"] = int(len(voice_rows))
    return info


def run(args: argparse.Namespace) -> int:
    info = collect()
    if args.json:
        print(json.dumps(info, indent=1))
        return 0
    print(f"workbench {info['packages']['workbench'] or '(not installed)'} on Python {info['python']} "
          f"({info['platform']})")
    print("\npackages:")
    for name, ver in info["packages"].items():
        print(f"  {name:<16} {ver or 'not installed'}")
    torch_info = info["torch"]
    print("\ncompute:")
    if torch_info is None:
        print("  torch not installed (pip install 'workbench[asr]')")
    else:
        print(f"  device {torch_info['device']} (CUDA {'yes' if torch_info['cuda'] else 'no'}), "
              f"torch threads {torch_info['threads']} of {info['cpu_count']} CPUs")
    print("\ncaches:")
    print(f"  workbench cache   {info['workbench_cache']}  (WORKBENCH_CACHE)")
    print(f"  Hugging Face hub  {info['hf_hub_cache']}  (HF_HUB_OFFLINE={'1' if info['hf_hub_offline'] else '0'})")
    print("\nasset path (WORKBENCH_ASSET_PATH):")
    if not info["asset_path"]:
        print("  not set; Kokoro voices and the LibriSpeech samples need it (see README)")
    for entry in info["asset_path"]:
        print(f"  {entry['folder']}{'' if entry['exists'] else '  (missing)'}")
    print("\nmodels available offline:")
    for name, ok in info["models_offline"].items():
        print(f"  {'yes' if ok else 'no ':<4} {name}")
    print(f"  voices: {info['voices_offline']} of {info['voices_known']} on this machine")
    return 0
