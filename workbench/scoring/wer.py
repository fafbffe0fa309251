"""WER/CER scoring with jiwer 4: per utterance, per corpus, per speaker, with aligned diffs.

``score_corpus(references, hypotheses)`` normalises both sides (default: the
wav2vec2-base-960h alphabet, see :mod:`workbench.scoring.normalize`; each distinct text once), aligns
them exactly as ``jiwer.process_words`` / ``process_characters`` do (jiwer 4's transforms and
the rapidfuzz Levenshtein operations it calls, without its per-call validation) and keeps the
alignment so every figure can be explained down to the word; jiwer ``AlignmentChunk`` lists
and the bootstrap intervals are made when first asked for.

Conventions (the same as NIST sclite, whose counts :mod:`workbench.scoring.sclite` checks):

- pooled WER = (S + D + I) / N over all scored utterances, N = reference words; the mean of
  per-utterance WERs is shown next to it (it weights short utterances more);
- an **empty reference** (after normalisation) has no defined WER: its row gets NaN and a
  note, it is left out of the mean, but its insertions still count in the pooled figures;
- an **empty hypothesis** deletes every reference word (WER 1.0);
- a **missing reference** (``None``), a missing hypothesis or an analysis error makes an
  *error row*: kept in the table with the reason, left out of every figure;
- digits and unicode are handled by the normaliser (digits spelled out, accents stripped,
  characters outside the alphabet dropped and listed in the row's note).

``compare_systems`` (paired tests) and ``evaluate`` (engine + scoring) live in
:mod:`workbench.scoring.compare` and :mod:`workbench.evaluation` and are re-exported here.
"""
from __future__ import annotations

import gc
import json
import re
from collections import Counter
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Mapping

import numpy as np

from .normalize import Normalizer, raw_normalizer, resolve_normalizer
from .significance import bootstrap_ratio_ci, bootstrap_ratio_cis
from .worddiff import WordOp, expand_chunks, html_diff, text_diff

SPECIAL_TOKENS = ("<pad>", "<s>", "</s>", "<unk>")
EMPTY = "∅"  # the "no character" row/column of the confusion matrix
COUNT_COLUMNS = ("ref_words", "hyp_words", "hits", "substitutions", "deletions", "insertions", "errors",
                 "ref_chars", "char_errors", "raw_ref_words", "raw_errors")
UTTERANCE_COLUMNS = ("id", "speaker", "reference", "hypothesis", "ref_norm", "hyp_norm", "ref_words", "hyp_words",
                     "hits", "substitutions", "deletions", "insertions", "errors", "wer", "ref_chars", "char_errors",
                     "cer", "raw_ref_words", "raw_errors", "raw_wer", "correct", "error", "note")


class _Aligned:
    """One utterance's normalised words and characters; the alignment chunks are built on first use.

    The counts come from the same ``rapidfuzz.distance.Levenshtein.opcodes`` jiwer 4 calls; the
    jiwer ``AlignmentChunk`` lists (word and character) are made only when a diff, a word
    alignment or the confusion matrix asks for them.
    """

    __slots__ = ("ref_words", "hyp_words", "_word_ops", "_ref_text", "_hyp_text", "_chunks", "_char_chunks")

    def __init__(self, ref_words: list[str], hyp_words: list[str], word_ops, ref_text: str, hyp_text: str) -> None:
        self.ref_words, self.hyp_words, self._word_ops = ref_words, hyp_words, word_ops
        self._ref_text, self._hyp_text = ref_text, hyp_text  # stripped, as jiwer's character transform does
        self._chunks = self._char_chunks = None

    @property
    def chunks(self) -> list:
        if self._chunks is None:
            self._chunks = _to_chunks(self._word_ops.as_opcodes())
        return self._chunks

    @property
    def ref_chars(self) -> list[str]:
        return list(self._ref_text)

    @property
    def hyp_chars(self) -> list[str]:
        return list(self._hyp_text)

    @property
    def char_chunks(self) -> list:
        if self._char_chunks is None:
            from rapidfuzz.distance import Levenshtein

            self._char_chunks = _to_chunks(Levenshtein.opcodes(self._ref_text, self._hyp_text))
        return self._char_chunks


def _to_chunks(opcodes) -> list:
    """jiwer ``AlignmentChunk`` objects from rapidfuzz opcodes, exactly as ``jiwer.process_words`` builds them."""
    from jiwer.alignment import AlignmentChunk

    return [AlignmentChunk(type=tag, ref_start_idx=i1, ref_end_idx=i2, hyp_start_idx=j1, hyp_end_idx=j2)
            for tag, i1, i2, j1, j2 in opcodes]


_MULTI_SPACE = re.compile(r"\s\s+")


def _jiwer_words(text: str) -> list[str]:
    """The words jiwer's default word transform makes of ``text`` (runs of whitespace -> one space,
    stripped, split on single spaces, empty pieces dropped)."""
    if text.isprintable():  # the only whitespace is " " (every other one is unprintable): a plain split
        return text.split()
    return [w for w in _MULTI_SPACE.sub(" ", text).strip().split(" ") if w]


def _rate(num: float, den: float) -> float:
    return float(num) / float(den) if den else float("nan")


@dataclass
class CorpusScore:
    """Scores of one system on one corpus.  ``per_utterance`` has one row per utterance
    (error rows included, with ``error`` set and NaN figures); corpus figures use the others."""

    name: str
    per_utterance: "object"  # pandas.DataFrame
    normalizer: str
    wer: float
    cer: float
    mean_wer: float
    raw_wer: float
    n_boot: int
    seed: int
    notes: list[str] = field(default_factory=list)
    provenance: dict = field(default_factory=dict)
    _aligned: dict[str, _Aligned] = field(default_factory=dict, repr=False)
    _normalize: object = field(default=None, repr=False)  # the str -> str normaliser used
    _cis: tuple | None = field(default=None, repr=False)  # (wer_ci, cer_ci), bootstrapped on first use

    # ------------------------------------------------------------------ intervals
    @property
    def wer_ci(self) -> tuple[float, float]:
        """95% bootstrap interval of the pooled WER (``n_boot`` utterance resamples, ``seed``);
        computed on first use, from the same resamples as :attr:`cer_ci`."""
        return self._intervals()[0]

    @property
    def cer_ci(self) -> tuple[float, float]:
        """95% bootstrap interval of the pooled CER (the same resamples as :attr:`wer_ci`)."""
        return self._intervals()[1]

    def _intervals(self) -> tuple:
        if self._cis is None:
            ok = self.scored
            cols = [ok[c].to_numpy(dtype=float) for c in ("errors", "ref_words", "char_errors", "ref_chars")]
            self._cis = tuple(bootstrap_ratio_cis([(cols[0], cols[1]), (cols[2], cols[3])], n_boot=self.n_boot,
                                                  seed=self.seed))
        return self._cis

    # ------------------------------------------------------------------ tables
    @property
    def scored(self):
        """The rows that count (no error)."""
        df = self.per_utterance
        return df[df["error"].isna()]

    @property
    def failed(self):
        """The error rows (analysis failed, reference or hypothesis missing)."""
        df = self.per_utterance
        return df[df["error"].notna()]

    def to_frame(self):
        """One row of corpus figures (raw and normalised WER side by side)."""
        import pandas as pd

        s = self.scored
        tot = {c: int(s[c].sum()) for c in ("ref_words", "hits", "substitutions", "deletions", "insertions",
                                            "errors", "ref_chars", "char_errors")}
        ser = float((s["errors"] > 0).mean()) if len(s) else float("nan")
        return pd.DataFrame([{
            "system": self.name, "utterances": len(self.per_utterance), "scored": len(s),
            "failed": len(self.failed), **tot, "wer": self.wer, "wer_lo": self.wer_ci[0], "wer_hi": self.wer_ci[1],
            "mean_wer": self.mean_wer, "cer": self.cer, "cer_lo": self.cer_ci[0], "cer_hi": self.cer_ci[1],
            "raw_wer": self.raw_wer, "sentence_error_rate": ser,
            "normalizer": self.normalizer,
        }])

    def by_speaker(self, *, n_boot: int | None = None, seed: int | None = None):
        """Per speaker: utterances, words, pooled WER with bootstrap CI, mean/SD/median of per-utterance WER, CER."""
        import pandas as pd

        n_boot = self.n_boot if n_boot is None else n_boot
        seed = self.seed if seed is None else seed
        s = self.scored.assign(speaker=self.scored["speaker"].fillna("(none)"))
        rows = []
        for spk, g in s.groupby("speaker", sort=True):
            err, ref = g["errors"].to_numpy(float), g["ref_words"].to_numpy(float)
            lo, hi = bootstrap_ratio_ci(err, ref, n_boot=n_boot, seed=seed)
            w = g["wer"].dropna()
            rows.append({"speaker": spk, "utterances": len(g), "ref_words": int(ref.sum()), "errors": int(err.sum()),
                         "wer": _rate(err.sum(), ref.sum()), "wer_lo": lo, "wer_hi": hi,
                         "mean_wer": float(w.mean()) if len(w) else float("nan"),
                         "sd_wer": float(w.std(ddof=1)) if len(w) > 1 else float("nan"),
                         "median_wer": float(w.median()) if len(w) else float("nan"),
                         "cer": _rate(g["char_errors"].sum(), g["ref_chars"].sum())})
        cols = ["speaker", "utterances", "ref_words", "errors", "wer", "wer_lo", "wer_hi", "mean_wer", "sd_wer",
                "median_wer", "cer"]
        return pd.DataFrame(rows, columns=cols)

    def _ops(self):
        for a in self._aligned.values():
            yield from expand_chunks(a.chunks, a.ref_words, a.hyp_words)

    def substitutions(self, top: int | None = 20):
        """Most frequent (reference word -> hypothesis word) pairs."""
        c = Counter((o.ref, o.hyp) for o in self._ops() if o.op == "substitute")
        return _top_frame([(r, h, n) for (r, h), n in c.items()], ["ref", "hyp", "count"], top)

    def deletions(self, top: int | None = 20):
        """Most frequently deleted reference words."""
        c = Counter(o.ref for o in self._ops() if o.op == "delete")
        return _top_frame([(w, n) for w, n in c.items()], ["word", "count"], top)

    def insertions(self, top: int | None = 20):
        """Most frequently inserted hypothesis words."""
        c = Counter(o.hyp for o in self._ops() if o.op == "insert")
        return _top_frame([(w, n) for w, n in c.items()], ["word", "count"], top)

    def char_confusion(self, vocab: list[str] | None = None, *, word_delimiter: str = "|"):
        """Reference character (rows) x hypothesis character (columns) counts from the character alignment.

        ``vocab``: the model's tokens (e.g. ``bundle.vocab``); special tokens are left out, the
        space is shown as the model's ``word_delimiter``, characters outside it are counted under
        ``<other>``.  Row/column ``∅`` holds insertions/deletions; the diagonal holds hits.
        Without ``vocab`` the characters seen are used.
        """
        import pandas as pd

        pairs: list[tuple[str, str]] = []
        for a in self._aligned.values():
            for c in a.char_chunks:
                if c.type in ("equal", "substitute"):
                    pairs.extend(zip(a.ref_chars[c.ref_start_idx:c.ref_end_idx],
                                     a.hyp_chars[c.hyp_start_idx:c.hyp_end_idx]))
                elif c.type == "delete":
                    pairs.extend((ch, EMPTY) for ch in a.ref_chars[c.ref_start_idx:c.ref_end_idx])
                else:
                    pairs.extend((EMPTY, ch) for ch in a.hyp_chars[c.hyp_start_idx:c.hyp_end_idx])

        def label(ch: str) -> str:
            return word_delimiter if ch == " " else ch

        if vocab is None:
            labels = sorted({label(x) for p in pairs for x in p if x != EMPTY})
            other = False
        else:
            labels = [t for t in vocab if t not in SPECIAL_TOKENS]
            seen = {label(x) for p in pairs for x in p if x != EMPTY}
            other = bool(seen - set(labels))
        axis = labels + (["<other>"] if other else []) + [EMPTY]
        index = {t: i for i, t in enumerate(axis)}
        mat = np.zeros((len(axis), len(axis)), dtype=np.int64)
        if pairs:
            r = np.array([index.get(label(x), index.get("<other>", -1)) if x != EMPTY else index[EMPTY]
                          for x, _ in pairs])
            h = np.array([index.get(label(y), index.get("<other>", -1)) if y != EMPTY else index[EMPTY]
                          for _, y in pairs])
            np.add.at(mat, (r, h), 1)
        return pd.DataFrame(mat, index=pd.Index(axis, name="ref"), columns=pd.Index(axis, name="hyp"))

    # ------------------------------------------------------------------ one utterance
    def _get(self, uid: str) -> _Aligned | None:
        if uid in self._aligned:
            return self._aligned[uid]
        if uid in set(self.per_utterance["id"]):
            return None
        raise KeyError(f"no utterance {uid!r} in the scores of {self.name!r}")

    def word_alignment(self, uid: str) -> list[WordOp]:
        """One :class:`WordOp` per aligned word; indices point into the normalised word lists
        (``ref_words(uid)``/``hyp_words(uid)``).  Error rows give an empty list."""
        a = self._get(uid)
        return [] if a is None else expand_chunks(a.chunks, a.ref_words, a.hyp_words)

    def ref_words(self, uid: str) -> list[str]:
        a = self._get(uid)
        return [] if a is None else list(a.ref_words)

    def hyp_words(self, uid: str) -> list[str]:
        a = self._get(uid)
        return [] if a is None else list(a.hyp_words)

    def source_word_index(self, uid: str, side: str = "hyp") -> list[int] | None:
        """For each normalised word of ``side`` ("hyp" or "ref"), the index of the word of the
        original text (split on whitespace) it came from: maps WordOp indices back to transcript
        words (and so to times).  None when the normaliser is not word-local for this text
        (e.g. a replacement that spans two words)."""
        a = self._get(uid)
        if a is None or self._normalize is None:
            return None
        if side not in ("hyp", "ref"):
            raise ValueError(f"side={side!r}; use 'hyp' or 'ref'")
        text = self.row(uid)["hypothesis" if side == "hyp" else "reference"] or ""
        target = a.hyp_words if side == "hyp" else a.ref_words
        index, words = [], []
        for i, word in enumerate(text.split()):
            pieces = self._normalize(word).split()
            words.extend(pieces)
            index.extend([i] * len(pieces))
        return index if words == list(target) else None

    def diff(self, uid: str, html: bool = False, *, width: int = 100) -> str:
        """The word-aligned diff: coloured, escaped HTML or sclite-style plain text."""
        a = self._get(uid)
        if a is None:
            reason = self.row(uid)["error"]
            if html:
                import html as _html

                return f'<div class="wb-diff" style="color:#b00020">not scored: {_html.escape(str(reason))}</div>'
            return f"not scored: {reason}"
        ops = expand_chunks(a.chunks, a.ref_words, a.hyp_words)
        return html_diff(ops) if html else text_diff(ops, width=width)

    def row(self, uid: str) -> dict:
        """The per-utterance figures of ``uid`` as a dict."""
        df = self.per_utterance
        hit = df[df["id"] == uid]
        if hit.empty:
            raise KeyError(f"no utterance {uid!r} in the scores of {self.name!r}")
        return {k: (None if _isna(v) else v) for k, v in hit.iloc[0].to_dict().items()}

    def worst(self, n: int | None = None):
        """Scored rows sorted worst first (WER, then errors); empty-reference rows last."""
        s = self.scored.sort_values(["wer", "errors", "id"], ascending=[False, False, True], na_position="last")
        return s if n is None else s.head(n)

    # ------------------------------------------------------------------ output
    def summary(self) -> str:
        lo, hi = self.wer_ci
        s = self.scored
        return (f"{self.name}: WER {self.wer:.2%} [{lo:.2%}, {hi:.2%}] pooled over {int(s['ref_words'].sum())} "
                f"words of {len(s)} utterances (mean per utterance {self.mean_wer:.2%}), CER {self.cer:.2%}; "
                f"raw text WER {self.raw_wer:.2%}; {len(self.failed)} error rows")

    def __repr__(self) -> str:
        return f"CorpusScore({self.summary()})"

    def _repr_html_(self) -> str:
        import html as _html

        table = self.to_frame().drop(columns=["normalizer"]).to_html(index=False, float_format=lambda v: f"{v:.4f}")
        notes = "".join(f"<li>{_html.escape(n)}</li>" for n in self.notes)
        return (f"<div><b>{_html.escape(self.name)}</b> &mdash; {_html.escape(self.normalizer)}{table}"
                + (f"<ul>{notes}</ul>" if notes else "") + "</div>")

    def plot(self, ax=None):
        """Histogram of per-utterance WER."""
        from ..plots.scoring import plot_wer_histogram

        return plot_wer_histogram(self, ax=ax)

    def save(self, directory: str | Path, *, prefix: str = "") -> Path:
        """Write per-utterance CSV/JSONL, corpus CSV/JSON (with notes and provenance), speaker and error tables."""
        out = Path(directory)
        from ..data.tables import write_csv  # spreadsheet-safe: formula-like cells get a leading '

        out.mkdir(parents=True, exist_ok=True)
        write_csv(self.per_utterance, out / f"{prefix}per_utterance.csv")
        self.per_utterance.to_json(out / f"{prefix}per_utterance.jsonl", orient="records", lines=True,
                                   force_ascii=False)
        corpus = self.to_frame()
        write_csv(corpus, out / f"{prefix}corpus.csv")
        record = {k: (None if _isna(v) else v) for k, v in corpus.iloc[0].to_dict().items()}
        (out / f"{prefix}corpus.json").write_text(json.dumps(
            {"figures": record, "notes": self.notes, "n_boot": self.n_boot, "seed": self.seed,
             "provenance": self.provenance}, indent=2, default=_json_default, ensure_ascii=False))
        write_csv(self.by_speaker(), out / f"{prefix}by_speaker.csv")
        write_csv(self.substitutions(top=None), out / f"{prefix}substitutions.csv")
        write_csv(self.deletions(top=None), out / f"{prefix}deletions.csv")
        write_csv(self.insertions(top=None), out / f"{prefix}insertions.csv")
        return out


def _isna(v) -> bool:
    """True for None, NaN and pandas.NA scalars (False for lists and other containers)."""
    import pandas as pd

    try:
        return bool(pd.isna(v))
    except (TypeError, ValueError):
        return False


def _json_default(v):
    if isinstance(v, (np.integer,)):
        return int(v)
    if isinstance(v, (np.floating,)):
        return None if np.isnan(v) else float(v)
    if isinstance(v, (np.bool_,)):
        return bool(v)
    return str(v)


def _top_frame(rows: list[tuple], columns: list[str], top: int | None):
    import pandas as pd

    rows.sort(key=lambda r: (-r[-1], *[str(x) for x in r[:-1]]))
    return pd.DataFrame(rows[:top] if top else rows, columns=columns)


def score_corpus(references: Mapping[str, str | None], hypotheses: Mapping[str, str | None], *,
                 normalizer: Normalizer | str | None = None, speakers: Mapping[str, str | None] | None = None,
                 errors: Mapping[str, str | None] | None = None, name: str = "system", n_boot: int = 1000,
                 seed: int = 0, provenance: dict | None = None) -> CorpusScore:
    """Score hypotheses against references (both keyed by utterance id).

    ``normalizer``: a :class:`~workbench.scoring.normalize.Normalizer`, ``"default"`` (model alphabet),
    ``"raw"`` (whitespace only) or any ``str -> str`` callable.  ``errors``: per-id failure
    messages (e.g. from the analysis engine); those rows are kept but not scored.  The raw
    (whitespace-only) WER is computed alongside.  ``n_boot``/``seed``: the bootstrap of
    ``wer_ci``/``cer_ci``, run when one of them is first read.

    The counts are jiwer 4's: its default word and character transforms and the
    ``rapidfuzz`` Levenshtein opcodes ``jiwer.process_words`` uses, called directly once per
    pair (jiwer's own list validation and per-chunk objects cost more than the alignment);
    character and raw-text figures need only edit distances, and the jiwer ``AlignmentChunk``
    lists are built when a diff or table asks for them.
    """
    import pandas as pd

    norm = resolve_normalizer(normalizer)
    speakers = speakers or {}
    errors = errors or {}
    ids = list(dict.fromkeys([*references, *hypotheses, *(k for k, v in errors.items() if v)]))

    error_col: list[str | None] = []
    scored: list[int] = []
    for uid in ids:
        ref, hyp = references.get(uid), hypotheses.get(uid)
        if errors.get(uid):
            error_col.append(str(errors[uid]))
        elif ref is None:
            error_col.append("no reference text for this utterance; it is transcribed but not scored")
        elif hyp is None:
            error_col.append("no hypothesis for this utterance")
        else:
            error_col.append(None)
            scored.append(len(error_col) - 1)
    refs = [references[ids[i]] for i in scored]
    hyps = [hypotheses[ids[i]] for i in scored]
    raw = raw_normalizer()
    # the raw normaliser only collapses whitespace, so its words are str.split()'s
    raw_words = (str.split if [name for name, _ in raw.steps()] == ["spaces"]
                 else lambda t: _jiwer_words(raw(t)))
    with _gc_paused():
        if isinstance(norm, Normalizer):
            ref_ex, hyp_ex = norm.explain_many(refs), norm.explain_many(hyps)
        else:
            memo: dict = {}
            ref_ex = [(memo[t] if t in memo else memo.setdefault(t, norm(t)), []) for t in refs]
            hyp_ex = [(memo[t] if t in memo else memo.setdefault(t, norm(t)), []) for t in hyps]
        counts, aligned, notes_col, dropped_all = _align_all(ids, scored, ref_ex, hyp_ex,
                                                             [raw_words(t) for t in refs],
                                                             [raw_words(t) for t in hyps])

    n, m = len(ids), len(scored)
    idx = np.asarray(scored, dtype=np.int64)

    def spread(values, fill=None):
        out = [fill] * n
        for i, v in zip(scored, values):
            out[i] = v
        return out

    def ints(col: np.ndarray):
        full = np.zeros(n, dtype=np.int64)
        full[idx] = col
        mask = np.ones(n, dtype=bool)
        mask[idx] = False
        return pd.arrays.IntegerArray(full, mask)

    def rate(num: np.ndarray, den: np.ndarray) -> np.ndarray:
        full = np.full(n, np.nan)
        with np.errstate(divide="ignore", invalid="ignore"):
            full[idx] = np.where(den > 0, num / np.where(den > 0, den, 1), np.nan)
        return full

    c = {k: counts[:, j] for j, k in enumerate(("ref_words", "hyp_words", "hits", "substitutions", "deletions",
                                                "insertions", "ref_chars", "char_errors", "raw_ref_words",
                                                "raw_errors"))}
    errs = c["substitutions"] + c["deletions"] + c["insertions"]
    correct = np.zeros(n, dtype=bool)
    correct[idx] = errs == 0
    cmask = np.ones(n, dtype=bool)
    cmask[idx] = False
    columns = {
        "id": ids, "speaker": [speakers.get(u) for u in ids], "reference": [references.get(u) for u in ids],
        "hypothesis": [hypotheses.get(u) for u in ids],
        "ref_norm": spread([r[0] for r in ref_ex], np.nan), "hyp_norm": spread([h[0] for h in hyp_ex], np.nan),
        "ref_words": ints(c["ref_words"]), "hyp_words": ints(c["hyp_words"]), "hits": ints(c["hits"]),
        "substitutions": ints(c["substitutions"]), "deletions": ints(c["deletions"]),
        "insertions": ints(c["insertions"]), "errors": ints(errs), "wer": rate(errs, c["ref_words"]),
        "ref_chars": ints(c["ref_chars"]), "char_errors": ints(c["char_errors"]),
        "cer": rate(c["char_errors"], c["ref_chars"]), "raw_ref_words": ints(c["raw_ref_words"]),
        "raw_errors": ints(c["raw_errors"]), "raw_wer": rate(c["raw_errors"], c["raw_ref_words"]),
        "correct": pd.arrays.BooleanArray(correct, cmask), "error": error_col, "note": spread(notes_col),
    }
    if m == 0:  # no scored row: keep the dtypes a table of error rows always had
        for col in ("ref_norm", "hyp_norm"):
            columns[col] = np.full(n, np.nan)
    df = pd.DataFrame({k: columns[k] for k in UTTERANCE_COLUMNS}, columns=list(UTTERANCE_COLUMNS))
    if not n:  # an empty corpus: the empty table with the usual column types
        df = pd.DataFrame([], columns=list(UTTERANCE_COLUMNS)).astype(
            {**{col: "Int64" for col in COUNT_COLUMNS}, "wer": float, "cer": float, "raw_wer": float,
             "correct": "boolean"})

    ok_ref, ok_err = c["ref_words"], errs
    notes = []
    n_empty = int((ok_ref == 0).sum())
    if n_empty:
        notes.append(f"{n_empty} utterance(s) with an empty reference: WER undefined per utterance (NaN, "
                     f"left out of the mean); their {int(c['insertions'][ok_ref == 0].sum())} "
                     f"inserted word(s) count in the pooled WER")
    if n - m:
        notes.append(f"{n - m} error row(s) left out of every figure (see the 'error' column)")
    if dropped_all:
        notes.append("characters outside the normaliser's alphabet were dropped: " + " ".join(sorted(dropped_all)))
    if not m:
        notes.append("nothing was scored: every row is an error row")
    wer_rows = df["wer"].to_numpy()[idx]
    return CorpusScore(
        name=name, per_utterance=df, normalizer=getattr(norm, "describe", lambda: repr(norm))(),
        wer=_rate(ok_err.sum(), ok_ref.sum()), cer=_rate(c["char_errors"].sum(), c["ref_chars"].sum()),
        mean_wer=float(np.nanmean(wer_rows)) if (~np.isnan(wer_rows)).any() else float("nan"),
        raw_wer=_rate(c["raw_errors"].sum(), c["raw_ref_words"].sum()),
        n_boot=n_boot, seed=seed, notes=notes, provenance=dict(provenance or {}), _aligned=aligned,
        _normalize=norm)


@contextmanager
def _gc_paused():
    """Pause the cyclic garbage collector while millions of small acyclic lists and tuples are made.

    Measured on 10k pairs: the collector's passes triggered by these allocations were a third of
    score_corpus's time; nothing made here forms a cycle, so pausing it frees nothing later.
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def _align_all(ids: list[str], scored: list[int], ref_ex: list[tuple], hyp_ex: list[tuple],
               raw_refs: list[list[str]], raw_hyps: list[list[str]]) -> tuple[np.ndarray, dict, list, set]:
    """Counts [scored, 10] (ref/hyp words, H S D I, ref chars, char errors, raw ref words, raw errors),
    the lazy alignments by id, the per-row notes and every dropped character, for the scored rows.

    Words are mapped to integers and aligned with rapidfuzz's Levenshtein edit operations, as
    ``jiwer.process_words`` does (its opcodes are these editops grouped); character and raw-word
    error counts are plain edit distances (S + D + I of any optimal alignment)."""
    from collections import defaultdict

    from rapidfuzz.distance import Levenshtein

    vocab: defaultdict = defaultdict()
    vocab.default_factory = vocab.__len__  # word -> int, as jiwer maps words before aligning
    editops, distance = Levenshtein.editops, Levenshtein.distance
    rows: list[tuple] = []
    aligned: dict[str, _Aligned] = {}
    notes_col: list[str | None] = []
    dropped_all: set[str] = set()
    for k, i in enumerate(scored):
        (rn, rd), (hn, hd) = ref_ex[k], hyp_ex[k]
        rw, hw = _jiwer_words(rn), _jiwer_words(hn)
        ops = editops([vocab[w] for w in rw], [vocab[w] for w in hw])
        tags = [op[0] for op in ops.as_list()]
        s, d, ins = tags.count("replace"), tags.count("delete"), tags.count("insert")
        rc, hc = rn.strip(), hn.strip()
        raw_r = raw_refs[k]
        rows.append((len(rw), len(hw), len(rw) - s - d, s, d, ins, len(rc), distance(rc, hc), len(raw_r),
                     distance([vocab[w] for w in raw_r], [vocab[w] for w in raw_hyps[k]])))
        aligned[ids[i]] = _Aligned(rw, hw, ops, rc, hc)
        if rw and hw and not rd and not hd:
            notes_col.append(None)
            continue
        notes = []
        if not rw:
            notes.append(f"empty reference: WER undefined (NaN), left out of the mean; its {ins} inserted "
                         f"word(s) count in the pooled figures")
        elif not hw:
            notes.append(f"empty hypothesis: all {len(rw)} reference words deleted")
        if rd or hd:
            dropped = sorted(set(rd) | set(hd))
            dropped_all.update(dropped)
            notes.append("dropped by the normaliser (not in the alphabet): " + " ".join(dropped))
        notes_col.append("; ".join(notes) or None)
    counts = np.array(rows, dtype=np.int64).reshape(len(rows), 10)
    return counts, aligned, notes_col, dropped_all


__all__ = ["CorpusScore", "WordOp", "score_corpus"]
