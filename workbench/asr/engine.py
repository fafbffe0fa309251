"""The analysis engine: one forward pass per utterance feeds every analysis.

``analyze(corpus_or_audio, model=...)`` runs a registry model once per utterance and keeps,
in a memory store shared per registry and in the on-disk cache (keyed by model name,
revision, dtype, device, audio hash and — for chunked audio — the chunk sizes): CTC
log-probabilities, the greedy transcript with the frame span of every emitted character,
and on request the hidden states of chosen layers and (for pretraining models) the
quantizer's code indices.  Alignment, embeddings and codebook analysis read these results;
they never run the model again.  Asking later for more layers than an entry holds
recomputes once with the union, so the new entry serves both requests.

Batching.  Exact by default: checkpoints whose feature extractor says
``return_attention_mask=False`` (group-norm models such as wav2vec2-base-960h) run one clip
per forward pass, as the transformers pipeline runs them; checkpoints with a mask are batched
8 at a time (the mask makes padding invisible).  ``batch_size=N`` on a mask-less checkpoint
is an explicit speed option for GPUs: clips are sorted by length, normalised each on its own,
zero-padded and run with **no** attention mask, as documented for these checkpoints.  The
padding is then not invisible: the first conv layer's group norm computes its statistics
over the padded length, and attention sees the padded frames, so a padded clip's emissions
move (the widest clip of a batch not at all).  Measured (tests/test_engine.py) on the random
tiny checkpoint, clips of 1.5-2.7 s padded up to 2.7 s: max |delta log-prob| 0.05-0.2; on the
shipped demo checkpoint, 16 held-out clips, the mean CER between batched and one-by-one
transcripts was 4.8% with ``max_padding=0.05``, 7.6% at 0.1 and 13.6% unbounded; on this
2-core CPU batching is also no faster (benchmarks/results/latest.md).  The padded length a
clip ran at is part of its cache key (exact results have none), and a batch with any member
to compute is rebuilt whole, so the same options give the same answer whatever the cache
saw before.

Fast CPU path.  A torch CTC checkpoint on the CPU in float32 runs through its ONNX fp32
export when one is cached for the same name and revision (:mod:`workbench.asr.fastpath`;
``backend="onnx"`` makes it, ``backend="torch"`` opts out): the same weights and float32
arithmetic, log-probs within about 1e-5 of torch and the same transcripts, faster
(onnxruntime fuses attention/GELU and drops eager torch's layout copies;
``benchmarks/bench_asr.py``).  The backend is part of the cache key.

Long audio.  Clips longer than ``max_unchunked_s`` run in ``chunk_length_s`` windows that
overlap by ``stride_length_s`` on each side (like the transformers pipeline's
``chunk_length_s``/``stride_length_s``): every window is normalised on its own, the frames of
its middle are kept, and the kept regions tile the timeline exactly (:func:`chunk_plan`),
so stitched arrays have exactly ``num_frames(len(audio))`` rows.  Memory holds one window's
activations; an hour of audio runs in bounded memory.  :func:`stream_transcribe` follows
the same plan on audio that arrives in blocks and yields growing partial transcripts.

Corpora.  Decoded audio is kept between the cache check and the forward pass only up to
:data:`AUDIO_MEMORY_SAMPLES`; beyond that, files are decoded again when their batch runs.
A file that cannot be read, an empty file or a clip shorter than one frame becomes an error
row; the others are still analysed.  ``progress`` (or ``WORKBENCH_PROGRESS=0``) switches the
tqdm bars.
"""
from __future__ import annotations

import threading
from collections import OrderedDict
from dataclasses import dataclass, field, replace
from typing import Iterable, Iterator

from pathlib import Path

import numpy as np

from ..data.corpus import as_corpus
from .. import settings
from ..data.cache import DiskCache, hash_array, make_key
from ..data.corpus import Corpus, Utterance
from ..models.ctc import CharSpan, greedy_path, greedy_spans, spans_to_text
from ..errors import AudioError, CapabilityError
from ..models.registry import ModelRegistry, resolve
from .fastpath import runner_for

ENGINE_VERSION = "1"


@dataclass
class UtteranceAnalysis:
    """Everything one forward pass gave for one utterance."""

    id: str
    model: str
    revision: str
    num_samples: int
    sample_rate: int
    frame_stride: int
    reference: str | None = None
    speaker: str | None = None
    log_probs: np.ndarray | None = field(default=None, repr=False)  # [T, V] float32
    hidden_states: dict[int, np.ndarray] = field(default_factory=dict, repr=False)  # layer -> [T, H]
    codes: np.ndarray | None = field(default=None, repr=False)  # [T, G] int
    code_logits: np.ndarray | None = field(default=None, repr=False)  # [T, G, V] float32
    vocab: list[str] = field(default_factory=list, repr=False)
    blank_id: int = 0
    word_delimiter: str = "|"
    chunked: bool = False
    error: str | None = None
    audio_path: str | None = None

    @property
    def ok(self) -> bool:
        return self.error is None

    @property
    def duration(self) -> float:
        return self.num_samples / self.sample_rate

    @property
    def frame_seconds(self) -> float:
        return self.frame_stride / self.sample_rate

    @property
    def num_frames(self) -> int:
        for arr in (self.log_probs, self.codes, *self.hidden_states.values()):
            if arr is not None:
                return int(arr.shape[0])
        return 0

    @property
    def greedy_ids(self) -> np.ndarray:
        return greedy_path(self.log_probs) if self.log_probs is not None else np.zeros(0, dtype=int)

    @property
    def char_spans(self) -> list[CharSpan]:
        if self.log_probs is None:
            return []
        return greedy_spans(self.greedy_ids, self.vocab, self.blank_id)

    @property
    def transcript(self) -> str:
        if self.log_probs is None:
            return ""
        return spans_to_text(self.char_spans, self.word_delimiter)

    def frame_time(self, frame: int | np.ndarray) -> float | np.ndarray:
        """Seconds at the start of ``frame`` (the model's real stride)."""
        return np.asarray(frame) * self.frame_seconds

    def layer(self, index: int) -> np.ndarray:
        if index not in self.hidden_states:
            have = sorted(self.hidden_states)
            raise CapabilityError(
                f"{self.id}: hidden states of layer {index} were not kept (have {have}); "
                f"run analyze(..., layers=[{index}]) or layers='all'")
        return self.hidden_states[index]


class AnalysisResult:
    """The analyses of a corpus, in corpus order, plus the failures as error rows."""

    def __init__(self, items: list[UtteranceAnalysis], *, model: str, corpus: Corpus | None = None) -> None:
        self.items = items
        self.model = model
        self.corpus = corpus
        self._by_id = {a.id: a for a in items}

    def __len__(self) -> int:
        return len(self.items)

    def __iter__(self) -> Iterator[UtteranceAnalysis]:
        return iter(self.items)

    def __getitem__(self, key: int | str) -> UtteranceAnalysis:
        return self._by_id[key] if isinstance(key, str) else self.items[key]

    @property
    def ok(self) -> list[UtteranceAnalysis]:
        return [a for a in self.items if a.ok]

    @property
    def errors(self) -> list[UtteranceAnalysis]:
        return [a for a in self.items if not a.ok]

    def transcripts(self) -> dict[str, str]:
        return {a.id: a.transcript for a in self.items if a.ok}

    def to_frame(self):
        import pandas as pd

        return pd.DataFrame([{
            "id": a.id, "model": a.model, "duration": a.duration, "frames": a.num_frames,
            "transcript": a.transcript if a.ok else None, "reference": a.reference, "speaker": a.speaker,
            "chunked": a.chunked, "error": a.error,
        } for a in self.items], columns=["id", "model", "duration", "frames", "transcript", "reference", "speaker",
                                         "chunked", "error"])

    def __repr__(self) -> str:
        return f"AnalysisResult({self.model!r}, {len(self.ok)} ok, {len(self.errors)} errors)"

    def _repr_html_(self) -> str:
        import html

        audio = sum(a.duration for a in self.ok)
        head = (f"<b>AnalysisResult</b> of <code>{html.escape(self.model)}</code>: {len(self.ok)} utterances "
                f"({audio:.1f} s of audio), {len(self.errors)} error rows")
        return head + self.to_frame().head(20).to_html(index=False, na_rep="")

    def save(self, path) -> "Path":  # noqa: F821 (Path is imported in the body)
        """The per-utterance table as ``.csv`` or ``.jsonl``, with a ``.provenance.json`` beside it."""
        import json
        from pathlib import Path

        from ..provenance import collect

        path = Path(path)
        frame = self.to_frame()
        if path.suffix == ".csv":
            from ..data.tables import write_csv  # spreadsheet-safe: formula-like cells get a leading '

            write_csv(frame, path)
        elif path.suffix == ".jsonl":
            frame.to_json(path, orient="records", lines=True, force_ascii=False)
        else:
            raise ValueError(f"{path.name}: save an AnalysisResult as .csv or .jsonl")
        revisions = {a.model: a.revision for a in self.items if a.revision}
        record = collect(revisions, engine_version=ENGINE_VERSION, utterances=len(self.items))
        path.with_name(path.name + ".provenance.json").write_text(json.dumps(record, indent=1, default=str))
        return path


class AnalysisStore:
    """In-memory LRU of analyses (shared per registry) in front of the disk cache."""

    def __init__(self, max_items: int = 4096) -> None:
        self.max_items = max_items
        self._items: OrderedDict[str, UtteranceAnalysis] = OrderedDict()
        self._lock = threading.Lock()
        self.forward_calls = 0  # model forward passes actually run (batches or chunks)
        self.utterances_computed = 0

    def get(self, key: str) -> UtteranceAnalysis | None:
        with self._lock:
            hit = self._items.get(key)
            if hit is not None:
                self._items.move_to_end(key)
            return hit

    def put(self, key: str, value: UtteranceAnalysis) -> None:
        with self._lock:
            self._items[key] = value
            self._items.move_to_end(key)
            while len(self._items) > self.max_items:
                self._items.popitem(last=False)

    def clear(self) -> None:
        with self._lock:
            self._items.clear()


def store_for(registry: ModelRegistry) -> AnalysisStore:
    """The analysis store shared by everything that uses ``registry``."""
    return registry.resource(("analysis-store",), AnalysisStore)


# --------------------------------------------------------------------------- inputs


# --------------------------------------------------------------------------- options
@dataclass(frozen=True)
class Options:
    layers: tuple[int, ...] = ()
    codes: bool = False
    chunk_length_s: float = 30.0
    stride_length_s: float = 5.0
    max_unchunked_s: float = 60.0

    def chunked(self, num_samples: int, sample_rate: int) -> bool:
        return num_samples > self.max_unchunked_s * sample_rate

    def key_parts(self, chunked: bool) -> dict:
        # layers/codes are not part of the key: an entry holds what was computed, and a request
        # for more recomputes once with the union (see _satisfies).  Chunk sizes matter only to
        # audio that is chunked.
        if not chunked:
            return {"chunk": None}
        return {"chunk": self.chunk_length_s, "stride": self.stride_length_s}


def _resolve_layers(layers, n_layers: int) -> tuple[int, ...]:
    if layers is None or layers is False:
        return ()
    if layers == "all" or layers is True:
        return tuple(range(n_layers + 1))
    if isinstance(layers, int):
        layers = [layers]
    out = []
    for layer in layers:
        layer = int(layer)
        if layer < 0:
            layer += n_layers + 1
        if not 0 <= layer <= n_layers:
            raise ValueError(f"layer {layer} is out of range 0..{n_layers} (0 = feature projection)")
        out.append(layer)
    return tuple(sorted(set(out)))


def _satisfies(entry: UtteranceAnalysis, opts: Options, kind: str) -> bool:
    if any(layer not in entry.hidden_states for layer in opts.layers):
        return False
    if opts.codes and entry.codes is None:
        return False
    return kind != "ctc" or entry.log_probs is not None or entry.error is not None


# --------------------------------------------------------------------------- forward


def _normalize(audio: np.ndarray, do_normalize: bool) -> np.ndarray:
    """Per-utterance zero mean / unit variance, as Wav2Vec2FeatureExtractor does."""
    if not do_normalize:
        return audio.astype(np.float32)
    return ((audio - audio.mean()) / np.sqrt(audio.var() + 1e-7)).astype(np.float32)


def chunk_plan(num_samples: int, *, chunk: int, stride_left: int, stride_right: int, align: int) -> list[tuple]:
    """(start, end, keep_from, keep_to) sample windows covering the audio with overlaps.

    Window starts are multiples of the frame stride ``align`` and each kept region starts where
    the previous one ended, so the kept frames of neighbouring chunks tile the timeline exactly
    (every frame once).  A window is the last one when it reaches the end of the audio.  This is
    the plan :func:`stream_transcribe` and chunked :func:`analyze` follow.
    """
    chunk, stride_left, stride_right, align = int(chunk), int(stride_left), int(stride_right), int(align)
    if align <= 0 or chunk <= 0 or stride_left < 0 or stride_right < 0:
        raise ValueError(f"chunk={chunk}, strides=({stride_left}, {stride_right}) and align={align} must be positive")
    step = chunk - stride_left - stride_right
    step -= step % align
    if step <= 0:
        raise ValueError(f"chunk_length_s must exceed the two strides by at least one frame "
                         f"(chunk={chunk}, strides={stride_left}+{stride_right} samples)")
    plan = []
    start = keep_from = 0
    while True:
        end = min(start + chunk, num_samples)
        final = end >= num_samples
        keep_to = num_samples if final else end - stride_right
        keep_to -= 0 if final else (keep_to - start) % align
        plan.append((start, end, keep_from, keep_to))
        if final:
            break
        keep_from = keep_to
        start += step
    return plan


def _chunk_sizes(bundle, chunk_length_s: float, stride_length_s: float) -> tuple[int, int]:
    """Chunk and stride in samples, multiples of the frame stride, with enough context."""
    sr, align = bundle.sample_rate, bundle.frame_stride
    chunk = int(round(chunk_length_s * sr)) // align * align
    stride = int(round(stride_length_s * sr)) // align * align
    if stride < bundle.receptive_field:
        raise ValueError(f"stride_length_s={stride_length_s} is shorter than one frame's receptive field "
                         f"({bundle.receptive_field / sr:.3f} s); use at least 1 s so chunk edges get context")
    if chunk - 2 * stride < align:
        raise ValueError(f"chunk_length_s={chunk_length_s} must exceed 2 x stride_length_s={stride_length_s}")
    return chunk, stride


def _iter_chunks(bundle, blocks: Iterable[np.ndarray], *, chunk: int, stride: int, layers: tuple[int, ...],
                 codes: bool, store: AnalysisStore) -> Iterator[tuple[dict, int, bool]]:
    """Run the :func:`chunk_plan` windows over audio arriving in ``blocks``; yield the kept frames.

    Yields ``(arrays, covered_samples, final)`` per window, where ``arrays`` hold only the
    window's kept frames.  A window is run as soon as the audio extends past it (so the plan is
    the same whether the audio comes in one block or many); each window is normalised on its
    own, as the transformers pipeline's chunking does.  Memory holds one window of audio.
    """
    align = bundle.frame_stride
    step = chunk - 2 * stride
    buf = np.zeros(0, dtype=np.float32)
    offset = start = keep_from = 0  # offset: absolute sample index of buf[0]

    def run(end: int, keep_to: int, final: bool) -> tuple[dict, int, bool]:
        seg = _normalize(buf[start - offset:end - offset], bundle.do_normalize)
        (out,) = bundle.forward_batch([seg], layers=layers, codes=codes)
        store.forward_calls += 1
        f0 = (keep_from - start) // align
        f1 = None if final else (keep_to - start) // align
        return {k: v[f0:f1] for k, v in out.items()}, keep_to, final

    for block in blocks:
        block = np.asarray(block, dtype=np.float32).reshape(-1)
        buf = np.concatenate([buf, block]) if buf.size else block
        while offset + len(buf) > start + chunk:  # audio goes past this window: it is not the last
            end = start + chunk
            keep_to = end - stride
            yield run(end, keep_to, False)
            keep_from, start = keep_to, start + step
            buf, offset = buf[start - offset:], start
    total = offset + len(buf)
    if total - start < bundle.receptive_field:
        if start == 0:
            raise AudioError(f"{total} samples is shorter than one frame ({bundle.receptive_field} samples)")
        raise ValueError("the last window is shorter than one frame; use a longer stride_length_s")
    yield run(total, total, True)


def _forward_chunked(bundle, audio: np.ndarray, opts: Options, store: AnalysisStore,
                     layers: tuple[int, ...], codes: bool) -> dict:
    """Chunked inference with overlapping strides; stitched arrays cover every frame once."""
    chunk, stride = _chunk_sizes(bundle, opts.chunk_length_s, opts.stride_length_s)
    pieces: dict[str, list[np.ndarray]] = {}
    for arrays, _, _ in _iter_chunks(bundle, [audio], chunk=chunk, stride=stride, layers=layers, codes=codes,
                                     store=store):
        for k, arr in arrays.items():
            pieces.setdefault(k, []).append(arr)
    stitched = {k: np.concatenate(v, axis=0) for k, v in pieces.items()}
    frames = bundle.num_frames(len(audio))
    got = {k: len(v) for k, v in stitched.items()}
    if any(n != frames for n in got.values()):  # the plan tiles frames exactly; anything else is a bug
        raise RuntimeError(f"chunk stitching gave {got} frames for {frames} expected; please report this")
    return stitched


# --------------------------------------------------------------------------- public API
def _key(bundle, audio_hash: str, opts: Options, chunked: bool, *, pad_to: int | None = None,
         backend: str | None = None) -> str:
    """The cache key of one clip's analysis.  ``pad_to``: the padded length (samples) a batched clip
    ran at without an attention mask; None for an exact result (alone, or the widest of its batch).
    ``backend``: what ran the checkpoint when it was not eager torch (``"onnx-fp32"``, see
    :mod:`workbench.asr.fastpath`); torch entries keep the keys they always had."""
    parts = opts.key_parts(chunked)
    if pad_to is not None:
        parts["pad_to"] = int(pad_to)
    if backend is not None:
        parts["backend"] = backend
    return make_key(engine=ENGINE_VERSION, model=bundle.name, revision=bundle.revision, dtype=bundle.dtype,
                    device=str(bundle.device).split(":")[0], audio=audio_hash, **parts)


def _batches(loaded: list[tuple], opts: Options, sr: int, *, batch_size: int, max_batch_seconds: float,
             max_padding: float | None) -> list[list[tuple]]:
    """Unchunked clips sorted by length and cut into batches: at most ``batch_size`` clips,
    ``max_batch_seconds`` of padded audio, and (``max_padding``) a bounded pad of the shortest."""
    limit = float("inf") if max_padding is None else max_padding
    short = sorted((c for c in loaded if not opts.chunked(c[3], sr)), key=lambda c: (c[3], c[0]))
    groups: list[list[tuple]] = []
    batch: list[tuple] = []
    for clip in short:
        n = clip[3]
        if batch and (len(batch) >= batch_size or n * (len(batch) + 1) > max_batch_seconds * sr
                      or n > batch[0][3] * (1 + limit)):
            groups.append(batch)
            batch = []
        batch.append(clip)
    if batch:
        groups.append(batch)
    return groups


def _to_arrays(entry: UtteranceAnalysis) -> dict[str, np.ndarray]:
    arrays = {"num_samples": np.array(entry.num_samples)}
    if entry.log_probs is not None:
        arrays["log_probs"] = entry.log_probs
    if entry.codes is not None:
        arrays["codes"] = entry.codes
        arrays["code_logits"] = entry.code_logits
    for layer, h in entry.hidden_states.items():
        arrays[f"h{layer}"] = h
    arrays["chunked"] = np.array(entry.chunked)
    return arrays


def _from_arrays(arrays: dict, base: UtteranceAnalysis) -> UtteranceAnalysis:
    base.log_probs = arrays.get("log_probs")
    base.codes = arrays.get("codes")
    base.code_logits = arrays.get("code_logits")
    base.hidden_states = {int(k[1:]): v for k, v in arrays.items() if k.startswith("h") and k[1:].isdigit()}
    base.chunked = bool(arrays.get("chunked", False))
    return base


@dataclass
class _Job:
    """One utterance to compute: where its result goes and what to compute."""

    index: int
    base: UtteranceAnalysis
    utt: Utterance
    num_samples: int
    key: str
    layers: tuple[int, ...]
    codes: bool
    audio: np.ndarray | None = field(default=None, repr=False)  # None: reloaded when its batch runs
    refresh_only: bool = False  # already answered from the cache; runs only to keep its batch whole
    cacheable: bool = True  # False: computed at another padding than its key names (a batch retried alone)


#: Decoded audio kept in memory between the cache check and the forward pass (samples);
#: beyond it clips are decoded again when their batch runs, so a large corpus stays bounded.
AUDIO_MEMORY_SAMPLES = 64_000_000  # 256 MB of float32, about 67 minutes at 16 kHz


def analyze(source, model: str = "w2v2-tiny-ctc", *, registry: ModelRegistry | None = None,
            layers=None, codes: bool = False, device: str = "auto", dtype: str = "float32",
            batch_size: int | None = None, max_batch_seconds: float = 160.0, chunk_length_s: float = 30.0,
            stride_length_s: float = 5.0, max_unchunked_s: float = 60.0, cache: bool = True,
            progress: bool | None = None, max_padding: float | None = None,
            backend: str = "auto") -> AnalysisResult:
    """Run ``model`` once per utterance of ``source`` and return every per-utterance analysis.

    ``layers``: hidden-state layers to keep (ints, ``"all"``, or None); ``codes``: quantizer
    code indices (pretraining models).  ``model``: a registry name or a path to a local
    ``save_pretrained()`` folder or ``.onnx`` file (registered on the fly).

    Exact by default.  ``batch_size=None`` runs checkpoints without an attention mask (such as
    wav2vec2-base-960h) one clip per forward pass, so every transcript equals what the model
    gives the clip alone, and batches checkpoints with a mask 8 at a time (padding is
    invisible to them).  An explicit ``batch_size > 1`` on a mask-less checkpoint is a speed
    option (GPUs): clips are sorted by length and zero-padded, which moves padded clips'
    emissions (see the module docstring for the measured effect); ``max_padding`` (e.g. 0.1)
    bounds how much a batch pads its shortest clip, ``max_batch_seconds`` the padded audio per
    call.  The padded length an entry was computed at is part of its cache key, so a cached
    result is always what the options asked for: a batched run never changes what a later
    one-by-one run returns, and the same corpus batched the same way always gives the same
    answer, whatever the cache saw before.

    Results come from the memory store or the disk cache when the same model revision, audio
    and options were seen before (``cache=False`` skips both lookups and always computes);
    clips longer than ``max_unchunked_s`` run in ``chunk_length_s`` windows overlapping by
    ``stride_length_s`` on each side.  ``progress``: a tqdm bar (default: on unless
    ``WORKBENCH_PROGRESS=0``).  A failing utterance becomes an error row; the others are
    still analysed.

    ``backend``: ``"auto"`` runs a torch CTC checkpoint on the CPU through its ONNX fp32
    export when one is cached (log-probs within about 1e-5 of torch, same transcripts, faster;
    :mod:`workbench.asr.fastpath`), ``"onnx"`` makes that export first if needed, ``"torch"``
    always runs eager torch.  The backend is part of the cache key.
    """
    from tqdm.auto import tqdm

    if batch_size is not None and batch_size < 1:
        raise ValueError(f"batch_size={batch_size} must be at least 1 (or None: exact, one clip per pass "
                         "for checkpoints without an attention mask)")
    reg = resolve(registry)
    corpus = as_corpus(source)
    bundle = reg.get(reg.name_for(model), device=device, dtype=dtype)
    if batch_size is None:
        batch_size = 8 if bundle.uses_attention_mask else 1
    padded_mode = batch_size > 1 and not bundle.uses_attention_mask
    # the fast CPU path: the cached ONNX fp32 export of this checkpoint when there is one (fastpath)
    runner, backend_name = runner_for(reg.name_for(model), bundle, reg, backend)
    if codes and bundle.kind != "pretraining":
        raise CapabilityError(
            f"{bundle.name} is a {bundle.kind} checkpoint with no quantizer; for codes load a pretraining model "
            f"such as 'wav2vec2-base' (hub) or the demo 'w2v2-tiny'")
    opts = Options(layers=_resolve_layers(layers, bundle.num_layers), codes=codes, chunk_length_s=chunk_length_s,
                   stride_length_s=stride_length_s, max_unchunked_s=max_unchunked_s)
    sr = bundle.sample_rate
    store = store_for(reg)
    disk = DiskCache("analysis", enabled=cache)
    show = settings.progress_enabled() if progress is None else progress

    items: list[UtteranceAnalysis | None] = [None] * len(corpus)
    jobs: list[_Job] = []
    loaded: list[tuple] = []  # (index, base row, utterance, samples, audio hash, audio or None)
    kept_samples = 0
    for i, utt in enumerate(tqdm(corpus, desc="read audio", disable=not show or len(corpus) < 50, unit="utt")):
        base = UtteranceAnalysis(id=utt.id, model=bundle.name, revision=bundle.revision, num_samples=0,
                                 sample_rate=sr, frame_stride=bundle.frame_stride,
                                 reference=utt.text, speaker=utt.speaker, vocab=bundle.vocab,
                                 blank_id=bundle.blank_id, word_delimiter=bundle.word_delimiter,
                                 audio_path=utt.audio)
        try:
            audio = utt.load(sr)
        except Exception as exc:  # any unreadable file is its own error row; the batch goes on
            base.error = f"{exc.__class__.__name__}: {exc}"
            items[i] = base
            continue
        base.num_samples = len(audio)
        if bundle.num_frames(len(audio)) < 1:
            base.error = (f"AudioError: {utt.id}: {len(audio)} samples is shorter than one frame "
                          f"({bundle.receptive_field} samples); nothing to analyse")
            items[i] = base
            continue
        loaded.append((i, base, utt, len(audio), hash_array(audio),
                       audio if kept_samples + len(audio) <= AUDIO_MEMORY_SAMPLES or utt.audio is None else None))
        if loaded[-1][5] is not None:
            kept_samples += len(audio)
        del audio

    # the padded length each clip will run at: None (alone, or the widest of its batch) is exact
    groups = _batches(loaded, opts, sr, batch_size=batch_size, max_batch_seconds=max_batch_seconds,
                      max_padding=max_padding) if padded_mode else []
    pad_to: dict[int, int] = {}  # the padded length each clip runs at; absent (exact) for the widest
    for group in groups:
        width = max(c[3] for c in group)
        pad_to.update({c[0]: width for c in group if c[3] < width})
    for i, base, utt, num_samples, audio_hash, audio in loaded:
        key = _key(bundle, audio_hash, opts, opts.chunked(num_samples, sr), pad_to=pad_to.get(i),
                   backend=backend_name)
        hit = store.get(key) if cache else None
        if hit is not None and _satisfies(hit, opts, bundle.kind):
            items[i] = _relabel(hit, utt)
            continue
        if hit is None:
            arrays = disk.get(key) if cache else None
            if arrays is not None:
                hit = _from_arrays(arrays, replace(base))
                if _satisfies(hit, opts, bundle.kind):
                    store.put(key, hit)
                    items[i] = hit
                    continue
        job = _Job(i, base, utt, num_samples, key, opts.layers, opts.codes, audio=audio)
        if hit is not None:
            # more was asked than the cached entry holds: recompute once with the union, so the
            # new entry serves both the old and the new requests
            job.layers = tuple(sorted(set(opts.layers) | set(hit.hidden_states)))
            job.codes = opts.codes or hit.codes is not None
        jobs.append(job)

    short = sorted((j for j in jobs if not opts.chunked(j.num_samples, sr)), key=lambda j: j.num_samples)
    long = [j for j in jobs if opts.chunked(j.num_samples, sr)]
    if long:
        _chunk_sizes(bundle, opts.chunk_length_s, opts.stride_length_s)  # bad sizes: one clear error up front
    bar = tqdm(total=len(jobs), desc=f"analyze {bundle.name}", disable=not show or not jobs, unit="utt")

    def audio_of(job: _Job) -> np.ndarray:
        return job.audio if job.audio is not None else job.utt.load(sr)

    def fail(job: _Job, exc: Exception) -> None:
        job.base.error = f"{exc.__class__.__name__}: {exc}"
        items[job.index] = job.base
        bar.update(1)

    def finish(job: _Job, arrays: dict, chunked: bool) -> None:
        if job.refresh_only:  # a cached member recomputed only to give its batch the planned padding
            return
        entry = _from_arrays(arrays, job.base)
        entry.chunked = chunked
        if cache and job.cacheable:  # cache=False keeps nothing behind (memory or disk)
            store.put(job.key, entry)
            disk.put(job.key, _to_arrays(entry))
        store.utterances_computed += 1
        items[job.index] = entry
        job.audio = None
        bar.update(1)

    def run(batch: list[_Job]) -> None:
        layers_u = tuple(sorted(set().union(*[set(j.layers) for j in batch])))
        codes_u = any(j.codes for j in batch)
        try:
            values = [_normalize(audio_of(j), bundle.do_normalize) for j in batch]
            outs = runner.forward_batch(values, layers=layers_u, codes=codes_u)
            store.forward_calls += 1
        except CapabilityError:
            raise
        except Exception as exc:  # e.g. out of memory on one odd batch, a file gone: retry one by one
            if len(batch) > 1:
                for j in batch:
                    j.cacheable = j.cacheable and not padded_mode  # alone is not the padding its key names
                    run([j])
            else:
                fail(batch[0], exc)
            return
        for j, arrays in zip(batch, outs):
            finish(j, arrays, chunked=False)

    by_index = {j.index: j for j in short}
    if padded_mode:
        # the planned batches, rebuilt whole: a member found in the cache is computed again with
        # the others, so every clip runs at exactly the padded length its key names
        for group in groups:
            if not by_index.keys() & {g[0] for g in group}:
                continue
            batch = []
            for i, base, utt, num_samples, audio_hash, audio in group:
                job = by_index.get(i)
                if job is None:  # a cached member: recomputed alongside, its result is identical
                    job = _Job(i, replace(base), utt, num_samples,
                               _key(bundle, audio_hash, opts, False, pad_to=pad_to.get(i), backend=backend_name),
                               opts.layers, opts.codes,
                               audio=audio)
                    job.refresh_only = True
                batch.append(job)
            run(batch)
    else:  # only the clips to compute, batched by the same rule (a mask makes padding invisible)
        missed = [c for c in loaded if c[0] in by_index]
        for group in _batches(missed, opts, sr, batch_size=batch_size, max_batch_seconds=max_batch_seconds,
                              max_padding=None):
            run([by_index[c[0]] for c in group])
    for job in long:
        try:
            arrays = _forward_chunked(runner, audio_of(job), opts, store, job.layers, job.codes)
        except CapabilityError:
            raise
        except Exception as exc:
            fail(job, exc)
            continue
        finish(job, arrays, chunked=True)
    bar.close()
    return AnalysisResult([it for it in items if it is not None], model=bundle.name, corpus=corpus)


def _relabel(entry: UtteranceAnalysis, utt: Utterance) -> UtteranceAnalysis:
    """A cached analysis under this utterance's id/reference (same audio, another corpus)."""
    if entry.id == utt.id and entry.reference == utt.text and entry.speaker == utt.speaker:
        return entry
    return replace(entry, id=utt.id, reference=utt.text, speaker=utt.speaker, audio_path=utt.audio)


def transcribe(source, model: str = "w2v2-tiny-ctc", **kw) -> dict[str, str]:
    """Transcripts by utterance id: greedy, or beam search with ``decoder="beam"``, ``lm=``, ``beam_width=``,
    ``alpha=``, ``beta=``, ``unigrams=``, ``hotwords=`` (:mod:`workbench.asr.decoding`, on the log-probs of
    one forward pass); the other keywords go to :func:`analyze`."""
    from .decoding import decode_result, split_options

    options, analyze_kw = split_options(kw)
    reg = resolve(analyze_kw.pop("registry", None))
    return decode_result(analyze(source, model, registry=reg, **analyze_kw), registry=reg, options=options)


@dataclass
class Partial:
    """A streaming update: the transcript so far and the audio it covers.

    ``text`` is final up to ``seconds`` (the right stride of the window just run is recomputed
    with more context by the next window).  ``log_probs`` are the frames this update added.
    """

    text: str
    seconds: float
    frames: int
    final: bool
    log_probs: np.ndarray | None = field(default=None, repr=False)


def _blocks(audio, *, sample_rate: int | None, target_rate: int) -> Iterator[np.ndarray]:
    """Mono float32 blocks at ``target_rate`` from a path, an array, or an iterable of arrays."""
    import os

    from ..data.audio import check_audio, load_audio, to_mono

    if isinstance(audio, (str, os.PathLike, np.ndarray)):
        yield load_audio(audio, sample_rate=target_rate, source_rate=sample_rate)
        return
    rate = int(sample_rate or target_rate)
    resampler = None
    if rate != target_rate:
        import soxr

        resampler = soxr.ResampleStream(rate, target_rate, 1, dtype="float32", quality="HQ")
    for i, block in enumerate(audio):
        block = to_mono(np.asarray(block, dtype=np.float32))
        if block.size == 0:
            continue
        block = check_audio(block.reshape(-1), name=f"stream block {i}")
        yield block if resampler is None else resampler.resample_chunk(block)
    if resampler is not None:
        yield resampler.resample_chunk(np.zeros(0, dtype=np.float32), last=True)


def stream_transcribe(audio, model: str = "w2v2-tiny-ctc", *, registry: ModelRegistry | None = None,
                      sample_rate: int | None = None, chunk_length_s: float = 10.0, stride_length_s: float = 2.0,
                      device: str = "auto", dtype: str = "float32") -> Iterator[Partial]:
    """Yield partial transcripts window by window, as the audio arrives.

    ``audio`` is a path, an array, or any iterable of array blocks (a microphone, a socket) at
    ``sample_rate`` (resampled on the fly when it differs from the model's).  Windows follow
    :func:`chunk_plan` with these chunk/stride sizes, so the final text equals the chunked
    :func:`analyze` transcript made with the same ``chunk_length_s``/``stride_length_s``.
    """
    reg = resolve(registry)
    bundle = reg.get(model, device=device, dtype=dtype)
    if bundle.kind != "ctc":
        raise CapabilityError(f"{bundle.name} has no CTC head; stream with a CTC model such as 'w2v2-tiny-ctc'")
    chunk, stride = _chunk_sizes(bundle, chunk_length_s, stride_length_s)
    ids: list[np.ndarray] = []
    frames = 0
    for arrays, covered, final in _iter_chunks(bundle, _blocks(audio, sample_rate=sample_rate,
                                                               target_rate=bundle.sample_rate),
                                               chunk=chunk, stride=stride, layers=(), codes=False,
                                               store=store_for(reg)):
        lp = arrays["log_probs"]
        ids.append(greedy_path(lp))
        frames += len(lp)
        spans = greedy_spans(np.concatenate(ids), bundle.vocab, bundle.blank_id)
        yield Partial(text=spans_to_text(spans, bundle.word_delimiter), seconds=covered / bundle.sample_rate,
                      frames=frames, final=final, log_probs=lp)
