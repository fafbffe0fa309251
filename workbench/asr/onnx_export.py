from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

from ..models.onnx_ctc import META_KEY
from ..errors import CapabilityError
from ..models.registry import ModelRegistry, resolve

OPSET = 17


def _export_wrapper(model):
    import torch

    class CTCExport(torch.nn.Module):
        """log-softmax emissions and every hidden state, as plain tensors."""

        def __init__(self, ctc_model) -> None:
            super().__init__()
            self.ctc = ctc_model

        def forward(self, input_values, attention_mask=None):
            out = self.ctc.wav2vec2(input_values, attention_mask=attention_mask, output_hidden_states=True)
            log_probs = torch.log_softmax(self.ctc.lm_head(out[0]).float(), dim=-1)
            return (log_probs, *out.hidden_states)

    return CTCExport(model).eval()


def export_onnx(name: str, out_path: str | os.PathLike, *, int8: bool = False,
                registry: ModelRegistry | None = None, opset: int = OPSET) -> Path:
    """Export registry model ``name`` (a CTC checkpoint) to ONNX; returns the ``.onnx`` path.

    ``out_path`` is a folder (the file becomes ``model.onnx`` or ``model.int8.onnx``) or a
    ``.onnx`` file name.  The tokenizer and feature extractor are saved beside it, so
    ``registry.register(NAME, path)`` loads it offline.
    """
    import onnx
    import torch

    reg = resolve(registry)
    bundle = reg.get(name, device="cpu", dtype="float32")
    if bundle.kind != "ctc":
        raise CapabilityError(f"{name} is a {bundle.kind} checkpoint; only CTC models are exported to ONNX")
    if not hasattr(bundle, "model"):
        raise CapabilityError(f"{name} is already an ONNX model ({getattr(bundle, 'path', '?')}); export its "
                              "torch source instead")
    out = Path(out_path).expanduser()
    target = out if out.suffix == ".onnx" else out / ("model.int8.onnx" if int8 else "model.onnx")
    target.parent.mkdir(parents=True, exist_ok=True)

    cfg = bundle.config
    n_layers = bundle.num_layers
    inputs = ["input_values"] + (["attention_mask"] if bundle.uses_attention_mask else [])
    outputs = ["log_probs"] + [f"hidden_{i}" for i in range(n_layers + 1)]
    axes = {"input_values": {0: "batch", 1: "samples"}, "log_probs": {0: "batch", 1: "frames"}}
    axes.update({k: {0: "batch", 1: "frames"} for k in outputs[1:]})
    if bundle.uses_attention_mask:
        axes["attention_mask"] = {0: "batch", 1: "samples"}
    example = torch.zeros(2, bundle.sample_rate, dtype=torch.float32)
    args = (example, torch.ones(2, bundle.sample_rate, dtype=torch.int64)) if bundle.uses_attention_mask else (example,)
    meta = {
        "source_model": bundle.name, "source_revision": bundle.revision, "dtype": "int8" if int8 else "float32",
        "conv_kernel": [int(k) for k in cfg.conv_kernel], "conv_stride": [int(s) for s in cfg.conv_stride],
        "num_layers": n_layers, "hidden_size": int(cfg.hidden_size), "blank_id": bundle.blank_id,
        "opset": opset, "torch": torch.__version__,
    }
    with tempfile.TemporaryDirectory(dir=target.parent) as tmp:
        fp32 = Path(tmp) / "fp32.onnx"
        wrapper = _export_wrapper(bundle.model)
        import warnings

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # tracer notes about python bools that are constant here
            torch.onnx.export(wrapper, args, str(fp32), dynamo=False, opset_version=opset, input_names=inputs,
                              output_names=outputs, dynamic_axes=axes, do_constant_folding=True)
        bundle.model.eval()  # export restores the wrapper's (training) mode on its children
        made = fp32
        if int8:
            from onnxruntime.quantization import QuantType, quantize_dynamic

            made = Path(tmp) / "int8.onnx"
            quantize_dynamic(str(fp32), str(made), weight_type=QuantType.QInt8, op_types_to_quantize=["MatMul"])
        graph = onnx.load(str(made))
        del graph.metadata_props[:]
        entry = graph.metadata_props.add()
        entry.key, entry.value = META_KEY, json.dumps(meta)
        tmp_target = Path(tmp) / "final.onnx"
        onnx.save(graph, str(tmp_target))
        os.replace(tmp_target, target)
    bundle.feature_extractor.save_pretrained(target.parent)
    bundle.tokenizer.save_pretrained(target.parent)
    return target
