"""ONNX export of a wav2vec2 CTC model, and a bundle that runs the export in onnxruntime.

    path = export_onnx("w2v2-tiny-ctc", "exports/tiny")             # exports/tiny/model.onnx
    path8 = export_onnx("w2v2-tiny-ctc", "exports/tiny", int8=True)  # exports/tiny/model.int8.onnx
    reg.register("tiny-onnx", path)                                  # source 'onnx'
    analyze(corpus, "tiny-onnx", registry=reg)                       # same engine, onnxruntime inside

The graph takes ``input_values`` [batch, samples] (normalised, zero-padded: the engine does
that) — plus ``attention_mask`` for checkpoints whose feature extractor asks for one — and
returns ``log_probs`` [batch, frames, vocab] and ``hidden_0`` .. ``hidden_L`` (the encoder's
hidden states, so layer analyses work on the export too); batch and time axes are dynamic.
The conv arithmetic and provenance (source model, revision) are stored in the ONNX metadata;
the feature extractor and tokenizer files are written next to the ``.onnx`` file.
int8 is onnxruntime's dynamic quantization of the MatMul weights (the transformer and the
feature projection; the conv encoder stays fp32), the ONNX twin of torch's
``quantize_dynamic({nn.Linear})``.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

import numpy as np

from ..errors import CapabilityError, ModelNotAvailableError
from .ctc import ProcessorFacts, conv_frames, conv_receptive_field, vocab_by_id
from .specs import ModelSpec

META_KEY = "workbench"


@dataclass
class OnnxCTCBundle(ProcessorFacts):
    """An exported CTC model run by onnxruntime, with the attributes the engine reads."""

    spec: ModelSpec
    path: Path
    session: object = field(repr=False)
    feature_extractor: object = field(repr=False)
    tokenizer: object = field(repr=False)
    meta: dict
    revision: str
    device: str = "cpu"
    kind: str = "ctc"

    @property
    def name(self) -> str:
        return self.spec.name

    @property
    def dtype(self) -> str:
        return str(self.meta.get("dtype", "float32"))

    @cached_property
    def frame_stride(self) -> int:
        return int(np.prod(self.meta["conv_stride"]))

    @cached_property
    def receptive_field(self) -> int:
        return conv_receptive_field(self.meta["conv_kernel"], self.meta["conv_stride"])

    def num_frames(self, num_samples: int) -> int:
        return conv_frames(num_samples, self.meta["conv_kernel"], self.meta["conv_stride"])

    @cached_property
    def vocab(self) -> list[str]:
        return vocab_by_id(self.tokenizer)

    @property
    def blank_id(self) -> int:
        return int(self.meta.get("blank_id", self.tokenizer.pad_token_id or 0))

    @property
    def num_layers(self) -> int:
        return int(self.meta["num_layers"])

    @cached_property
    def output_names(self) -> list[str]:
        return [o.name for o in self.session.get_outputs()]

    def forward_batch(self, values: list[np.ndarray], *, layers: tuple[int, ...] = (),
                      codes: bool = False) -> list[dict]:
        """One onnxruntime call on a zero-padded batch; per-clip arrays trimmed to their frames."""
        from ..data.audio import pad_batch

        if codes:
            raise CapabilityError(f"{self.name} is an ONNX CTC export with no quantizer; codes need a "
                                  "pretraining model such as 'w2v2-tiny'")
        missing = [layer for layer in layers if f"hidden_{layer}" not in self.output_names]
        if missing:
            raise CapabilityError(f"{self.name}: the ONNX graph has no hidden state for layers {missing}; "
                                  f"re-export it with `workbench export {self.meta.get('source_model', 'NAME')} --onnx`")
        batch, mask, lengths = pad_batch(values)
        feeds = {"input_values": batch}
        if self.uses_attention_mask:
            feeds["attention_mask"] = mask
        names = ["log_probs"] + [f"hidden_{layer}" for layer in layers]
        arrays = self.session.run(names, feeds)
        results = []
        for i, n in enumerate(lengths):
            frames = self.num_frames(n)
            item = {"log_probs": arrays[0][i, :frames]}
            for layer, arr in zip(layers, arrays[1:]):
                item[f"h{layer}"] = arr[i, :frames]
            results.append(item)
        return results


def _onnx_file(location: Path) -> Path:
    if location.is_file():
        return location
    found = sorted(location.glob("*.onnx")) if location.is_dir() else []
    if len(found) == 1:
        return found[0]
    if not found:
        raise ModelNotAvailableError(f"{location}: no .onnx file; make one with `workbench export NAME --onnx`")
    raise ModelNotAvailableError(f"{location} holds several ONNX files ({', '.join(p.name for p in found)}); "
                                 "register the one you mean by its file path")


def load_onnx_ctc(spec: ModelSpec) -> OnnxCTCBundle:
    """Open an exported CTC model (the registry's loader for source 'onnx', kind 'ctc')."""
    import onnx
    import onnxruntime as ort
    from transformers import Wav2Vec2CTCTokenizer, Wav2Vec2FeatureExtractor

    from .assets import sha256_file

    if spec.kind != "ctc":
        raise CapabilityError(f"{spec.name}: ONNX models of kind {spec.kind!r} are not supported; export a CTC model")
    path = _onnx_file(Path(spec.location))
    folder = path.parent
    try:
        graph = onnx.load(str(path), load_external_data=False)
    except Exception as exc:  # protobuf DecodeError, truncated file, not ONNX at all
        from ..errors import AssetIntegrityError

        raise AssetIntegrityError(f"{path}: is not a readable ONNX model ({exc.__class__.__name__}: {exc}); the file "
                                  "is damaged or not ONNX — re-export it with `workbench export NAME --onnx`") from None
    props = {p.key: p.value for p in graph.metadata_props}
    if META_KEY not in props:
        raise ModelNotAvailableError(f"{path}: not a workbench export (no '{META_KEY}' metadata); export the model "
                                     "with `workbench export NAME --onnx` so the conv arithmetic is recorded")
    meta = json.loads(props[META_KEY])
    try:
        fe = Wav2Vec2FeatureExtractor.from_pretrained(str(folder), local_files_only=True)
        tok = Wav2Vec2CTCTokenizer.from_pretrained(str(folder), local_files_only=True)
    except (OSError, ValueError) as exc:
        raise ModelNotAvailableError(f"{folder}: the feature extractor / tokenizer files next to {path.name} are "
                                     f"missing ({exc}); re-run `workbench export NAME --onnx`") from exc
    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    try:
        session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    except Exception as exc:  # a graph onnx could parse but onnxruntime cannot run
        from ..errors import AssetIntegrityError

        raise AssetIntegrityError(f"{path}: onnxruntime cannot open this model ({exc.__class__.__name__}: {exc}); "
                                  "re-export it with `workbench export NAME --onnx`") from None
    revision = f"onnx-{meta['dtype']}:sha256:{sha256_file(path)[:16]}"
    return OnnxCTCBundle(spec=spec, path=path, session=session, feature_extractor=fe, tokenizer=tok, meta=meta,
                         revision=revision)
