"""CTC basics shared by the engine and alignment: the bundle interface every CTC backend
satisfies, greedy decoding with spans."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol, runtime_checkable

import numpy as np


@runtime_checkable
class CTCBundle(Protocol):
    """What the engine needs of a loaded wav2vec2-style model, whatever runs it.

    Satisfied by :class:`~workbench.models.w2v2.Wav2Vec2Bundle` (PyTorch, transformers) and
    :class:`~workbench.models.onnx_ctc.OnnxCTCBundle` (onnxruntime).  A new backend implements
    these members and adds one loader to :data:`workbench.models.registry.LOADERS`; nothing in
    the engine, alignment or representations changes.
    """

    name: str
    kind: str  # "ctc" (emits log-probs over ``vocab``) or "pretraining" (hidden states, codes)
    revision: str
    dtype: str
    sample_rate: int
    frame_stride: int  # input samples per output frame (320 for the base architecture)
    receptive_field: int  # samples one frame sees through the conv encoder (400 for base)
    vocab: list[str]  # token strings by id; empty for pretraining models
    blank_id: int
    word_delimiter: str
    num_layers: int
    do_normalize: bool  # zero-mean/unit-variance input, as the feature extractor does
    uses_attention_mask: bool  # False: zero padding changes outputs, so clips run one per call

    def num_frames(self, num_samples: int) -> int:
        """Output frames for an input of ``num_samples`` samples."""
        ...

    def forward_batch(self, values: list[np.ndarray], *, layers: tuple[int, ...] = (),
                      codes: bool = False) -> list[dict]:
        """Per-clip arrays for normalised clips: ``log_probs``, ``h{layer}``, ``codes``/``code_logits``."""
        ...


def conv_frames(num_samples: int, kernels, strides) -> int:
    """Output frames of the conv feature encoder for ``num_samples`` input samples (exact)."""
    n = int(num_samples)
    for k, s in zip(kernels, strides):
        n = (n - int(k)) // int(s) + 1
    return max(n, 0)


def conv_receptive_field(kernels, strides) -> int:
    """Input samples one output frame sees through the conv stack (400 for the base architecture)."""
    rf = 1
    for k, s in zip(reversed(list(kernels)), reversed(list(strides))):
        rf = (rf - 1) * int(s) + int(k)
    return rf


def vocab_by_id(tokenizer) -> list[str]:
    """Token strings indexed by id from a transformers tokenizer (empty without one)."""
    if tokenizer is None:
        return []
    table = tokenizer.get_vocab()
    out = [""] * len(table)
    for tok, idx in table.items():
        if idx < len(out):
            out[idx] = tok
    return out


class ProcessorFacts:
    """The :class:`CTCBundle` members read from a Hugging Face feature extractor and tokenizer
    (``self.feature_extractor``, ``self.tokenizer``), shared by every backend that ships them."""

    feature_extractor: object
    tokenizer: object

    @property
    def sample_rate(self) -> int:
        return int(getattr(self.feature_extractor, "sampling_rate", 16000))

    @property
    def word_delimiter(self) -> str:
        return getattr(self.tokenizer, "word_delimiter_token", "|") or "|"

    @property
    def do_normalize(self) -> bool:
        return bool(getattr(self.feature_extractor, "do_normalize", True))

    @property
    def uses_attention_mask(self) -> bool:
        return bool(getattr(self.feature_extractor, "return_attention_mask", False))


@dataclass(frozen=True)
class CharSpan:
    """An emitted token and its frame span [start, end) in the emissions."""

    token: str
    token_id: int
    start: int
    end: int


def greedy_path(log_probs: np.ndarray) -> np.ndarray:
    """Frame-wise argmax ids."""
    return np.asarray(log_probs).argmax(axis=-1)


def greedy_spans(ids: np.ndarray, vocab: list[str], blank_id: int = 0) -> list[CharSpan]:
    """Collapse repeats, drop blanks; each emitted token keeps the frames of its run."""
    ids = np.asarray(ids)
    if ids.size == 0:
        return []
    change = np.flatnonzero(np.diff(ids)) + 1
    starts = np.concatenate([[0], change])
    ends = np.concatenate([change, [ids.size]])
    out = []
    for s, e in zip(starts, ends):
        tid = int(ids[s])
        if tid == blank_id:
            continue
        out.append(CharSpan(vocab[tid] if tid < len(vocab) else "", tid, int(s), int(e)))
    return out


SPECIAL = {"<pad>", "<s>", "</s>", "<unk>"}


def spans_to_text(spans: list[CharSpan], word_delimiter: str = "|") -> str:
    """The transcript: delimiter tokens become spaces, special tokens are dropped."""
    chars = [" " if s.token == word_delimiter else s.token for s in spans if s.token not in SPECIAL]
    return " ".join("".join(chars).split())
