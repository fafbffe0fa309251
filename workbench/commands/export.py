"""``workbench export NAME --onnx [--int8] [--out DIR]``: a CTC model as an ONNX graph for onnxruntime."""
from __future__ import annotations

import argparse
from pathlib import Path


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("export", help="export a CTC model to ONNX (fp32 or int8), loadable through the registry")
    p.add_argument("name", help="registry name or local checkpoint folder")
    p.add_argument("--onnx", action="store_true", required=True, help="export to ONNX (the only format for now)")
    p.add_argument("--int8", action="store_true", help="dynamic int8 quantization of the MatMul weights")
    p.add_argument("--out", type=Path, default=None, help="output folder (default: exports/NAME)")
    p.add_argument("--check", action="store_true",
                   help="run the export and the torch model on 1 s of noise and print the largest log-prob gap")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ..asr.onnx_export import export_onnx
    from ..models.registry import default_registry

    reg = default_registry()
    name = reg.name_for(args.name)
    out = args.out or Path("exports") / Path(name).name
    path = export_onnx(name, out, int8=args.int8, registry=reg)
    print(f"wrote {path} ({path.stat().st_size / 1e6:.1f} MB) with its tokenizer and feature extractor")
    print(f"load it with: registry.register('{Path(name).name}-onnx{'-int8' if args.int8 else ''}', '{path}')")
    if args.check:
        import numpy as np

        from ..models.onnx_ctc import load_onnx_ctc
        from ..models.specs import ModelSpec

        bundle = reg.get(name, device="cpu")
        onnx_bundle = load_onnx_ctc(ModelSpec(name="check", kind="ctc", source="onnx", location=str(path)))
        noise = np.random.default_rng(0).standard_normal(bundle.sample_rate).astype(np.float32)
        (ref,) = bundle.forward_batch([noise], layers=(), codes=False)
        (got,) = onnx_bundle.forward_batch([noise])
        print(f"max |log-prob difference| vs torch on 1 s of noise: {np.abs(ref['log_probs'] - got['log_probs']).max():.3g}")
    return 0
