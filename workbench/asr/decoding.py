"""CTC decoding of cached log-probabilities: greedy, or beam search with an optional n-gram LM.

The engine keeps every utterance's log-probabilities, so decoding never runs the model again:
``decode_result(analyze(corpus, model), decoder="beam", lm="demo-lm")`` rescores what is
there.  Beam search is `pyctcdecode <https://github.com/kensho-technologies/pyctcdecode>`_'s
prefix beam search with KenLM shallow fusion, as ``Wav2Vec2ProcessorWithLM`` uses it for
wav2vec2-base-960h (the wav2vec 2.0 paper reports every result greedy and with an LM):
a beam's score is ``log p_ctc + alpha * ln p_lm + beta * words`` (+ hotword bonuses).

- ``decoder``: ``"greedy"`` (frame-wise argmax, the engine's transcript) or ``"beam"``;
  left as ``None`` it is ``"beam"`` when an LM or hotwords are given, else greedy.
- ``lm``: a registry name of kind ``lm`` (``demo-lm``) or the path of an ARPA file or KenLM
  binary (registered on the fly); ``None``: beam search over the acoustics alone.
- ``alpha``/``beta``: LM weight and word-insertion bonus; left as ``None`` they are the weights tuned
  for the LM on a development set when it has them (``demo-lm`` does: :mod:`workbench.recipe.dev`),
  else pyctcdecode's defaults 0.5 / 1.5 (:func:`resolve_weights`); ``unigrams``: the words the LM knows
  (read from an ARPA file by default; give a list for a binary LM); ``hotwords`` and
  ``hotword_weight``: words to favour (they need not be in the LM).

The model's special tokens (``<s>``, ``</s>``, ``<unk>``) produce no text, as in the greedy
transcript: their probability is added to the blank's.  Words are matched to the LM in its
own letter case (an upper-case CTC vocabulary works with a lower-case LM) and come back in the
vocabulary's case.  A decoder is built once per (vocabulary, LM, alpha, beta, unigrams) and
kept in the registry's resource cache.
"""
from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field
from typing import Iterable

import numpy as np

from ..errors import CapabilityError
from ..models.ctc import SPECIAL
from ..models.registry import ModelRegistry, resolve

DECODERS = ("greedy", "beam")
DEFAULT_ALPHA, DEFAULT_BETA = 0.5, 1.5  # pyctcdecode's own defaults
#: The option names :func:`split_options` takes out of a keyword dict (evaluate, transcribe).
OPTION_NAMES = ("decoder", "lm", "beam_width", "alpha", "beta", "unigrams", "hotwords", "hotword_weight",
                "beam_prune_logp", "token_min_logp")
INSTALL_HINT = "pip install --no-deps pyctcdecode==0.5.0 && pip install 'workbench[lm]'"


@dataclass(frozen=True)
class DecodeOptions:
    """How to turn log-probabilities into text (pyctcdecode's defaults for the beam options)."""

    decoder: str | None = None
    lm: str | None = None
    beam_width: int = 100
    alpha: float | None = None  # None: the LM's tuned weight, else DEFAULT_ALPHA
    beta: float | None = None
    unigrams: tuple[str, ...] | None = None
    hotwords: tuple[str, ...] = ()
    hotword_weight: float = 10.0
    beam_prune_logp: float = -10.0
    token_min_logp: float = -5.0

    def __post_init__(self) -> None:
        decoder = self.decoder or ("beam" if self.lm is not None or self.hotwords else "greedy")
        if decoder not in DECODERS:
            raise ValueError(f"decoder={self.decoder!r} must be one of {DECODERS}")
        if decoder == "greedy" and (self.lm is not None or self.hotwords):
            raise ValueError("decoder='greedy' takes no lm= or hotwords=; use decoder='beam' to fuse an LM "
                             "or favour hotwords")
        if int(self.beam_width) < 1:
            raise ValueError(f"beam_width={self.beam_width} must be at least 1")
        object.__setattr__(self, "decoder", decoder)
        object.__setattr__(self, "beam_width", int(self.beam_width))
        for name in ("alpha", "beta"):
            if getattr(self, name) is not None:
                object.__setattr__(self, name, float(getattr(self, name)))
        object.__setattr__(self, "hotwords", tuple(w.strip() for w in self.hotwords if w and w.strip()))
        if self.unigrams is not None:
            object.__setattr__(self, "unigrams", tuple(self.unigrams))
        if self.lm is not None:
            object.__setattr__(self, "lm", str(self.lm))

    @property
    def beam(self) -> bool:
        return self.decoder == "beam"

    def describe(self) -> dict:
        """The options as a JSON-ready dict (provenance); greedy is just ``{"decoder": "greedy"}``."""
        if not self.beam:
            return {"decoder": "greedy"}
        out = asdict(self)
        out["unigrams"] = None if self.unigrams is None else len(self.unigrams)
        out["hotwords"] = list(self.hotwords)
        return out

    def label(self) -> str:
        """A short name: ``greedy``, ``beam100``, ``beam100+demo-lm``."""
        if not self.beam:
            return "greedy"
        return f"beam{self.beam_width}" + (f"+{self.lm}" if self.lm else "")


def split_options(kw: dict) -> tuple[DecodeOptions, dict]:
    """(the decoding options in ``kw``, the other keywords): lets ``evaluate``/``transcribe``
    take ``decoder=``, ``lm=``, ``beam_width=``... beside the engine's options."""
    mine = {k: kw[k] for k in OPTION_NAMES if k in kw and kw[k] is not None}
    rest = {k: v for k, v in kw.items() if k not in OPTION_NAMES}
    if isinstance(mine.get("hotwords"), str):
        mine["hotwords"] = (mine["hotwords"],)
    return DecodeOptions(**mine), rest


def resolve_weights(options: DecodeOptions, registry: ModelRegistry | None = None) -> DecodeOptions:
    """``options`` with alpha/beta filled in: the LM's tuned weights (its ``.decoding.json``) where
    left as None, else pyctcdecode's defaults.  Greedy options come back as they are."""
    from dataclasses import replace

    if not options.beam or (options.alpha is not None and options.beta is not None):
        return options
    tuned = None
    if options.lm is not None:
        from ..models.lm import lm_name_for, locate, tuned_weights

        reg = resolve(registry)
        spec = reg.spec(lm_name_for(reg, options.lm))
        tuned = tuned_weights(locate(spec)) if spec.kind == "lm" else None
    tuned = tuned or {"alpha": DEFAULT_ALPHA, "beta": DEFAULT_BETA}
    return replace(options, alpha=tuned["alpha"] if options.alpha is None else options.alpha,
                   beta=tuned["beta"] if options.beta is None else options.beta)


def _options(options: DecodeOptions | None, kw: dict, registry: ModelRegistry | None = None) -> DecodeOptions:
    if options is not None and kw:
        raise TypeError(f"give either options= or keywords ({', '.join(kw)}), not both")
    if options is None:
        options, rest = split_options(kw)
        if rest:
            raise TypeError(f"unknown decoding option(s) {', '.join(sorted(rest))}; known: {', '.join(OPTION_NAMES)}")
    return resolve_weights(options, registry)


# --------------------------------------------------------------------------- the decoder
@dataclass
class BeamDecoder:
    """A pyctcdecode decoder for one CTC vocabulary (and LM), with the column mapping it needs."""

    decoder: object = field(repr=False)
    keep: np.ndarray  # vocabulary ids passed to pyctcdecode, in its label order
    blank_ids: np.ndarray  # ids summed into the blank column (the blank and the special tokens)
    blank_column: int
    lower: bool  # labels were lower-cased to match a lower-case LM
    lm: str | None = None

    def log_probs(self, log_probs: np.ndarray) -> np.ndarray:
        """[T, V] log-probs -> [T, len(keep)] with the special tokens folded into the blank."""
        lp = np.asarray(log_probs, dtype=np.float32)
        out = lp[:, self.keep].copy()
        out[:, self.blank_column] = np.logaddexp.reduce(lp[:, self.blank_ids], axis=1)
        return out

    def decode(self, log_probs: np.ndarray, opts: DecodeOptions) -> str:
        hotwords = [w.lower() if self.lower else w.upper() for w in opts.hotwords] if opts.hotwords else None
        text = self.decoder.decode(self.log_probs(log_probs), beam_width=opts.beam_width,
                                   beam_prune_logp=opts.beam_prune_logp, token_min_logp=opts.token_min_logp,
                                   hotwords=hotwords, hotword_weight=opts.hotword_weight)
        text = " ".join(text.split())
        return text.upper() if self.lower else text


def _labels(vocab: list[str], blank_id: int, word_delimiter: str, lower: bool) -> tuple[list[str], list[int], list[int]]:
    """pyctcdecode labels ('' blank, ' ' delimiter, characters), the kept ids, and the blank-like ids."""
    keep, labels, blanks = [], [], [blank_id]
    for i, token in enumerate(vocab):
        if i == blank_id:
            keep.append(i)
            labels.append("")
        elif token in SPECIAL:
            blanks.append(i)
        else:
            keep.append(i)
            labels.append(" " if token == word_delimiter else (token.lower() if lower else token))
    return labels, keep, blanks


def build_decoder(vocab: list[str], *, blank_id: int = 0, word_delimiter: str = "|", lm=None,
                  alpha: float = 0.5, beta: float = 1.5, unigrams: Iterable[str] | None = None) -> BeamDecoder:
    """A :class:`BeamDecoder` for ``vocab`` and a loaded :class:`~workbench.models.lm.NgramLM` (or none)."""
    try:
        from pyctcdecode.alphabet import Alphabet
        from pyctcdecode.decoder import BeamSearchDecoderCTC
        from pyctcdecode.language_model import LanguageModel
    except ImportError as exc:
        raise CapabilityError(f"beam search needs pyctcdecode (and KenLM for an LM): {INSTALL_HINT}") from exc
    import logging

    lower = lm is not None and not lm.upper
    labels, keep, blanks = _labels(list(vocab), blank_id, word_delimiter, lower)
    alphabet = Alphabet(labels, False)  # character CTC, not BPE
    language_model = None
    if lm is not None:
        words = unigrams if unigrams is not None else lm.unigrams
        if words is not None:
            words = [w.lower() if lower else w for w in words]
        quiet = logging.getLogger("pyctcdecode.language_model")
        level = quiet.level
        quiet.setLevel(logging.ERROR)  # "only N unigrams" / "no unigrams" notes: the LM card says what it holds
        try:
            language_model = LanguageModel(lm.model, words, alpha=float(alpha), beta=float(beta))
        finally:
            quiet.setLevel(level)
    return BeamDecoder(BeamSearchDecoderCTC(alphabet, language_model), keep=np.array(keep),
                       blank_ids=np.array(blanks), blank_column=keep.index(blank_id), lower=lower,
                       lm=None if lm is None else lm.name)


def decoder_for(vocab: list[str], opts: DecodeOptions, *, blank_id: int = 0, word_delimiter: str = "|",
                registry: ModelRegistry | None = None) -> BeamDecoder:
    """The cached :class:`BeamDecoder` for this vocabulary, LM and parameters (built once per registry)."""
    from ..models.lm import lm_name_for

    reg = resolve(registry)
    opts = resolve_weights(opts, reg)
    lm_name = lm_name_for(reg, opts.lm) if opts.lm is not None else None
    spec = reg.spec(lm_name) if lm_name is not None else None
    if spec is not None and spec.kind != "lm":
        raise CapabilityError(f"lm={opts.lm!r} is a {spec.kind} model, not a language model; give a name of kind lm "
                              f"({', '.join(reg.names(kind='lm'))}) or an ARPA/KenLM file")
    key = ("ctc-decoder", tuple(vocab), blank_id, word_delimiter, spec, opts.alpha, opts.beta, opts.unigrams)

    def build() -> BeamDecoder:
        lm = reg.get(lm_name) if lm_name is not None else None
        return build_decoder(vocab, blank_id=blank_id, word_delimiter=word_delimiter, lm=lm, alpha=opts.alpha,
                             beta=opts.beta, unigrams=opts.unigrams)

    return reg.resource(key, build)


# --------------------------------------------------------------------------- decoding
def decode(log_probs: np.ndarray, vocab: list[str], *, blank_id: int = 0, word_delimiter: str = "|",
           registry: ModelRegistry | None = None, options: DecodeOptions | None = None, **kw) -> str:
    """The transcript of one [T, V] log-probability matrix (greedy, or beam search with ``lm=``...)."""
    from ..models.ctc import greedy_path, greedy_spans, spans_to_text

    opts = _options(options, kw, registry)
    lp = np.asarray(log_probs)
    if lp.ndim != 2 or lp.shape[1] != len(vocab):
        raise ValueError(f"log_probs of shape {lp.shape} do not match a vocabulary of {len(vocab)} tokens; "
                         "pass the [frames, vocabulary] matrix of the model the vocabulary belongs to")
    if not opts.beam:
        return spans_to_text(greedy_spans(greedy_path(lp), vocab, blank_id), word_delimiter)
    if lp.shape[0] == 0:
        return ""
    dec = decoder_for(vocab, opts, blank_id=blank_id, word_delimiter=word_delimiter, registry=registry)
    return dec.decode(lp, opts)


def decode_result(result, *, registry: ModelRegistry | None = None, options: DecodeOptions | None = None,
                  timings: dict | None = None, **kw) -> dict[str, str]:
    """Transcripts by id of an engine ``AnalysisResult`` (or any iterable of analyses), decoded as asked.

    Error rows are left out, as in ``AnalysisResult.transcripts()``.  ``timings``, when given,
    receives ``seconds`` (decoding only, not the decoder build) and ``utterances``.
    """
    opts = _options(options, kw, registry)
    items = [a for a in result if a.ok]
    if not opts.beam:
        return {a.id: a.transcript for a in items}
    out: dict[str, str] = {}
    spent = 0.0
    for a in items:
        if a.log_probs is None:
            raise CapabilityError(f"{a.id}: no log-probabilities to decode ({a.model} has no CTC head)")
        dec = decoder_for(a.vocab, opts, blank_id=a.blank_id, word_delimiter=a.word_delimiter, registry=registry)
        start = time.perf_counter()
        out[a.id] = dec.decode(a.log_probs, opts) if a.log_probs.shape[0] else ""
        spent += time.perf_counter() - start
    if timings is not None:
        timings.update(seconds=spent, utterances=len(items))
    return out


def score_decoded(result, *, registry: ModelRegistry | None = None, options: DecodeOptions | None = None,
                  normalizer=None, **kw):
    """The ``CorpusScore`` of ``result``'s analyses decoded as asked (:func:`decode_result`) against their
    references; error rows are left out.  Another decoding of the same forward pass, not a new one."""
    from ..scoring.wer import score_corpus

    hyps = decode_result(result, registry=registry, options=options, **kw)
    return score_corpus({a.id: a.reference for a in result if a.ok}, hyps, normalizer=normalizer)


def tune(result, *, lm: str, alphas: Iterable[float] = (0.3, 0.5, 0.8, 1.2), betas: Iterable[float] = (0.0, 1.0, 2.0),
         registry: ModelRegistry | None = None, normalizer=None, **kw):
    """WER/CER of beam search + ``lm`` on every (alpha, beta) of the grid, best first (a DataFrame).

    ``result`` is an engine ``AnalysisResult`` with references.  Tune on a development set, never on
    the set you report: the figures of the chosen pair on the tuning set are optimistic.
    """
    import pandas as pd

    from ..scoring.wer import score_corpus

    refs = {a.id: a.reference for a in result if a.ok and a.reference is not None}
    if not refs:
        raise ValueError("tune needs analyses with reference texts (a corpus with a text column)")
    rows = []
    for alpha in alphas:
        for beta in betas:
            hyps = decode_result(result, registry=registry, lm=lm, alpha=alpha, beta=beta, **kw)
            score = score_corpus(refs, {k: hyps[k] for k in refs}, normalizer=normalizer, n_boot=0)
            rows.append({"alpha": float(alpha), "beta": float(beta), "wer": score.wer, "cer": score.cer})
    return pd.DataFrame(rows).sort_values(["wer", "cer"], kind="stable").reset_index(drop=True)
