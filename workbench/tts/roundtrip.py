"""Round trip: synthesize text with Kokoro, transcribe it back with a CTC model, score it.

``roundtrip(texts, voices, model=...)`` synthesizes every text with every voice, resamples to
16 kHz, runs the ASR model once per utterance (``engine.analyze`` on an in-memory corpus) and
scores WER/CER against the input text (:func:`workbench.scoring.score_corpus`, default
normaliser).  It reports:

* ``per_voice`` — utterances, words, WER, CER per voice, and the same WER without the words
  that G2P flagged (unresolved, symbols outside the vocabulary, non-Latin letters), whose errors
  are counted separately: a word Kokoro never said is not the recogniser's fault;
* ``flagged`` — each flagged word, what the recogniser made of it (equal/substitute/delete);
* ``timing`` — per word, Kokoro's predicted start/end (from its durations) against the start/end
  from CTC forced alignment (:func:`workbench.asr.alignment.forced_align`) of the synthesized audio;
  ``per_voice`` has the mean absolute start and end difference per voice.

The Kokoro times come from the 24 kHz audio and the CTC times from its 16 kHz resampling: the
same clock.  Forced alignment has a 20 ms frame, so differences under ~20 ms are at resolution.
"""
from __future__ import annotations

import difflib
import html
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Mapping

import numpy as np

from ..data.corpus import Corpus, Utterance
from ..errors import TextError, WorkbenchError
from ..models.registry import ModelRegistry, resolve
from .synthesis import SynthesisResult, synthesize

ASR_RATE = 16_000
VOICE_COLUMNS = ["voice", "utterances", "ref_words", "errors", "wer", "cer", "flagged_words", "flagged_errors",
                 "unflagged_wer", "timed_words", "start_mae", "end_mae"]


#: The demo's round trip (``workbench demo``, the model card's round-trip figure): the sentences
#: and voices (one training voice, one held out from the demo recogniser's training).
DEMO_VOICES = ("af_heart", "bm_george")
DEMO_SENTENCES = (
    "The quick brown fox jumps over the lazy dog.",
    "She sells sea shells by the sea shore on a sunny morning.",
    "Where is the nearest train station, please?",
    "Kokoro read forty two words in three seconds.",
)

@dataclass
class RoundTripResult:
    """Synthesis -> ASR -> scoring for a set of texts and voices."""

    model: str
    syntheses: dict[str, SynthesisResult]
    corpus: Corpus
    analysis: object  # engine.AnalysisResult
    score: object  # scoring.CorpusScore
    per_utterance: object  # DataFrame
    per_voice: object  # DataFrame with VOICE_COLUMNS
    flagged: object  # DataFrame: id, voice, word, flag, op, heard
    timing: object | None  # DataFrame: id, voice, word, kokoro_start, kokoro_end, ctc_start, ctc_end, start_diff, end_diff
    notes: list[str] = field(default_factory=list)

    def to_frame(self):
        return self.per_voice

    def diff(self, uid: str, *, html: bool = False) -> str:
        """The word-aligned diff of one utterance (reference vs what the recogniser heard)."""
        return self.score.diff(uid, html=html)

    def plot(self, ax=None):
        from ..plots.synthesis import plot_roundtrip

        return plot_roundtrip(self, ax=ax)

    def save(self, directory: str | Path) -> Path:
        """Write the tables as CSV and a JSON summary with provenance into ``directory``."""
        import datetime

        out = Path(directory)
        out.mkdir(parents=True, exist_ok=True)
        self.per_voice.to_csv(out / "roundtrip_per_voice.csv", index=False)
        from ..data.tables import write_csv  # spreadsheet-safe: formula-like cells get a leading '

        write_csv(self.per_utterance, out / "roundtrip_per_utterance.csv")
        write_csv(self.flagged, out / "roundtrip_flagged.csv")
        if self.timing is not None:
            self.timing.to_csv(out / "roundtrip_timing.csv", index=False)
        first = next(iter(self.syntheses.values()), None)
        meta = {"asr_model": self.model, "asr_revision": getattr(self.analysis[0], "revision", None) if len(
            self.analysis) else None, "tts_revision": first.model_revision if first else None,
                "normalizer": self.score.normalizer, "notes": self.notes,
                "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
                "per_voice": self.per_voice.to_dict(orient="records")}
        (out / "roundtrip.json").write_text(json.dumps(meta, indent=1, default=str))
        return out

    def _repr_html_(self) -> str:
        notes = "".join(f"<br><i>{html.escape(n)}</i>" for n in self.notes)
        return (f"<b>round trip</b> through {html.escape(self.model)}: WER {self.score.wer:.1%}, "
                f"CER {self.score.cer:.1%}{notes}" + self.per_voice.to_html(index=False, float_format="%.3f"))


def transcribe_back(syntheses: Mapping[str, SynthesisResult], *, model: str = "w2v2-tiny-ctc",
                    registry: ModelRegistry | None = None, normalizer=None, align: bool = True,
                    n_boot: int = 200, seed: int = 0, decoding: dict | None = None) -> RoundTripResult:
    """Transcribe already synthesized results (keyed by utterance id) and score them against their text.
    ``decoding``: beam-search options such as ``{"lm": "demo-lm"}`` (:mod:`workbench.asr.decoding`)."""
    from ..asr.decoding import decode_result
    from ..asr.engine import analyze
    from ..scoring.normalize import resolve_normalizer
    from ..scoring.wer import score_corpus

    reg = resolve(registry)
    if not syntheses:
        raise TextError("nothing to transcribe back: no synthesized utterances were given")
    norm = resolve_normalizer(normalizer)
    utts = [Utterance(id=uid, array=r.resampled(ASR_RATE), sample_rate=ASR_RATE, text=r.plain_text, speaker=r.voice,
                      duration=r.duration) for uid, r in syntheses.items()]
    corpus = Corpus(utts, name="roundtrip")
    analysis = analyze(corpus, model, registry=reg)
    hyps = decode_result(analysis, registry=reg, **(decoding or {}))  # greedy unless decoding says otherwise
    errors = {a.id: a.error for a in analysis if not a.ok}
    score = score_corpus({uid: r.plain_text for uid, r in syntheses.items()}, hyps, normalizer=norm,
                         speakers={uid: r.voice for uid, r in syntheses.items()}, errors=errors, name=model,
                         n_boot=n_boot, seed=seed)
    flagged = _flagged_words(syntheses, score, norm)
    notes = list(score.notes)
    timing = None
    if align:
        timing, why = _timing(syntheses, analysis, norm)
        if why:
            notes.append(why)
    per_utt = score.per_utterance[["id", "speaker", "reference", "hypothesis", "wer", "cer", "error"]].rename(
        columns={"speaker": "voice"})
    counts = flagged.groupby("id").size() if len(flagged) else None
    per_utt = per_utt.assign(flagged_words=[int(counts.get(u, 0)) if counts is not None else 0 for u in per_utt.id])
    return RoundTripResult(model=model, syntheses=dict(syntheses), corpus=corpus, analysis=analysis, score=score,
                           per_utterance=per_utt, per_voice=_per_voice(score, flagged, timing), flagged=flagged,
                           timing=timing, notes=notes)


def roundtrip(texts: list[str] | str, voices: list[str] | str = ("af_heart",), *, model: str = "w2v2-tiny-ctc",
              speed: float = 1.0, registry: ModelRegistry | None = None, normalizer=None, align: bool = True,
              n_boot: int = 200, seed: int = 0, decoding: dict | None = None) -> RoundTripResult:
    """Synthesize each text with each voice, transcribe back with ``model``, score per voice."""
    reg = resolve(registry)
    texts = [texts] if isinstance(texts, str) else list(texts)
    voices = [voices] if isinstance(voices, str) else list(voices)
    if not texts or not voices:
        raise TextError(f"roundtrip needs at least one text and one voice (got {len(texts)} and {len(voices)})")
    syntheses: dict[str, SynthesisResult] = {}
    failed: list[str] = []
    for voice in voices:
        for i, text in enumerate(texts):
            try:
                syntheses[f"{voice}-{i:03d}"] = synthesize(text, voice, speed=speed, registry=reg)
            except TextError as exc:  # one bad text never loses the others
                failed.append(f"{voice}-{i:03d}: {exc}")
    result = transcribe_back(syntheses, model=model, registry=reg, normalizer=normalizer, align=align,
                             n_boot=n_boot, seed=seed, decoding=decoding)
    if failed:
        result.notes.append(f"{len(failed)} text(s) could not be synthesized: " + "; ".join(failed[:5]))
    return result


# ---------------------------------------------------------------------------- flagged words
def _token_words(result: SynthesisResult, norm) -> list[tuple[str, str]]:
    """(normalised word, flag) for every word of the text, in order, as G2P tokenized it."""
    out = []
    for t in result.tokens:
        for w in norm(t.text).split():
            out.append((w, t.flag))
    return out


def _flagged_words(syntheses: Mapping[str, SynthesisResult], score, norm):
    import pandas as pd

    rows = []
    for uid, r in syntheses.items():
        if not any(t.flagged for t in r.tokens):
            continue
        ref = score.ref_words(uid)
        if not ref:
            continue
        mine = _token_words(r, norm)
        flags = _map_flags(ref, mine)
        ops = {op.ref_index: op for op in score.word_alignment(uid) if op.ref_index is not None}
        for k, flag in enumerate(flags):
            if flag:
                op = ops.get(k)
                rows.append({"id": uid, "voice": r.voice, "word": ref[k], "flag": flag,
                             "op": op.op if op else "unaligned", "heard": op.hyp if op else None})
    return pd.DataFrame(rows, columns=["id", "voice", "word", "flag", "op", "heard"])


def _map_flags(ref: list[str], mine: list[tuple[str, str]]) -> list[str]:
    """The flag of each reference word, matching the token-by-token normalisation to the whole-text one."""
    flags = [""] * len(ref)
    matcher = difflib.SequenceMatcher(a=ref, b=[w for w, _ in mine], autojunk=False)
    for block in matcher.get_matching_blocks():
        for j in range(block.size):
            flags[block.a + j] = mine[block.b + j][1]
    return flags


# ---------------------------------------------------------------------------- timing
def _timing(syntheses: Mapping[str, SynthesisResult], analysis, norm):
    """Kokoro word times vs CTC forced-alignment word times, matched word by word."""
    import pandas as pd

    try:
        from ..asr.alignment import forced_align
    except ImportError:
        return None, "timing cross-check skipped: workbench.asr.alignment is not available"
    rows, failures = [], []
    for uid, r in syntheses.items():
        item = analysis[uid]
        if not item.ok:
            continue
        try:
            alignment = forced_align(item, r.plain_text)
        except WorkbenchError as exc:
            failures.append(f"{uid}: {exc}")
            continue
        kokoro = []
        for w in r.word_timings().itertuples():
            words = norm(w.word).split()
            if len(words) == 1:  # a token that normalises to several words has no per-word times
                kokoro.append((words[0], w.start, w.end))
        ctc = [(w.word, w.start, w.end) for w in alignment.words]
        matcher = difflib.SequenceMatcher(a=[k[0] for k in kokoro], b=[c[0] for c in ctc], autojunk=False)
        for block in matcher.get_matching_blocks():
            for j in range(block.size):
                k, c = kokoro[block.a + j], ctc[block.b + j]
                rows.append({"id": uid, "voice": r.voice, "word": k[0], "kokoro_start": k[1], "kokoro_end": k[2],
                             "ctc_start": c[1], "ctc_end": c[2], "start_diff": c[1] - k[1], "end_diff": c[2] - k[2]})
    frame = pd.DataFrame(rows, columns=["id", "voice", "word", "kokoro_start", "kokoro_end", "ctc_start", "ctc_end",
                                        "start_diff", "end_diff"])
    why = f"forced alignment failed for {len(failures)} utterance(s): " + "; ".join(failures[:3]) if failures else ""
    return frame, why


def _per_voice(score, flagged, timing):
    import pandas as pd

    s = score.scored
    rows = []
    for voice, g in s.groupby(s["speaker"].fillna("(none)"), sort=True):
        ref = int(g.ref_words.sum())
        err = int(g.errors.sum())
        f = flagged[flagged.voice == voice] if len(flagged) else flagged
        n_flag = len(f)
        f_err = int((f.op != "equal").sum()) if n_flag else 0
        unflagged = (err - f_err) / (ref - n_flag) if ref - n_flag > 0 else float("nan")
        t = timing[timing.voice == voice] if timing is not None and len(timing) else None
        rows.append({"voice": voice, "utterances": len(g), "ref_words": ref, "errors": err,
                     "wer": err / ref if ref else float("nan"),
                     "cer": float(g.char_errors.sum()) / float(g.ref_chars.sum()) if g.ref_chars.sum() else float("nan"),
                     "flagged_words": n_flag, "flagged_errors": f_err, "unflagged_wer": unflagged,
                     "timed_words": 0 if t is None else len(t),
                     "start_mae": float(np.abs(t.start_diff).mean()) if t is not None and len(t) else float("nan"),
                     "end_mae": float(np.abs(t.end_diff).mean()) if t is not None and len(t) else float("nan")})
    return pd.DataFrame(rows, columns=VOICE_COLUMNS)
