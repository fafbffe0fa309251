"""WER/CER scoring with jiwer 4: per utterance, per corpus, per speaker, with aligned diffs.

``score_corpus(references, hypotheses)`` normalises both sides (default: the
wav2vec2-base-960h alphabet, see :mod:`workbench.normalize`), aligns them with
``jiwer.process_words`` and ``jiwer.process_characters`` (one call each for the whole
corpus) and keeps the alignment so every figure can be explained down to the word.

Conventions (the same as NIST sclite, whose counts :mod:`workbench.sclite` checks):

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
:mod:`workbench.compare` and :mod:`workbench.evaluation` and are re-exported here.
"""
from __future__ import annotations

import json
from collections import Counter
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


@dataclass
class _Aligned:
    ref_words: list[str]
    hyp_words: list[str]
    chunks: list
    ref_chars: list[str]
    hyp_chars: list[str]
    char_chunks: list


def _counts(chunks) -> tuple[int, int, int, int]:
    """(hits, substitutions, deletions, insertions) of one utterance's alignment chunks."""
    h = s = d = i = 0
    for c in chunks:
        if c.type == "equal":
            h += c.ref_end_idx - c.ref_start_idx
        elif c.type == "substitute":
            s += c.ref_end_idx - c.ref_start_idx
        elif c.type == "delete":
            d += c.ref_end_idx - c.ref_start_idx
        else:
            i += c.hyp_end_idx - c.hyp_start_idx
    return h, s, d, i


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
    wer_ci: tuple[float, float]
    cer_ci: tuple[float, float]
    raw_wer: float
    n_boot: int
    seed: int
    notes: list[str] = field(default_factory=list)
    provenance: dict = field(default_factory=dict)
    _aligned: dict[str, _Aligned] = field(default_factory=dict, repr=False)
    _normalize: object = field(default=None, repr=False)  # the str -> str normaliser used

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
        out.mkdir(parents=True, exist_ok=True)
        self.per_utterance.to_csv(out / f"{prefix}per_utterance.csv", index=False)
        self.per_utterance.to_json(out / f"{prefix}per_utterance.jsonl", orient="records", lines=True,
                                   force_ascii=False)
        corpus = self.to_frame()
        corpus.to_csv(out / f"{prefix}corpus.csv", index=False)
        record = {k: (None if _isna(v) else v) for k, v in corpus.iloc[0].to_dict().items()}
        (out / f"{prefix}corpus.json").write_text(json.dumps(
            {"figures": record, "notes": self.notes, "n_boot": self.n_boot, "seed": self.seed,
             "provenance": self.provenance}, indent=2, default=_json_default, ensure_ascii=False))
        self.by_speaker().to_csv(out / f"{prefix}by_speaker.csv", index=False)
        self.substitutions(top=None).to_csv(out / f"{prefix}substitutions.csv", index=False)
        self.deletions(top=None).to_csv(out / f"{prefix}deletions.csv", index=False)
        self.insertions(top=None).to_csv(out / f"{prefix}insertions.csv", index=False)
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

    ``normalizer``: a :class:`~workbench.normalize.Normalizer`, ``"default"`` (model alphabet),
    ``"raw"`` (whitespace only) or any ``str -> str`` callable.  ``errors``: per-id failure
    messages (e.g. from the analysis engine); those rows are kept but not scored.  The raw
    (whitespace-only) WER is computed alongside.  ``n_boot``/``seed``: the bootstrap.
    """
    import jiwer
    import pandas as pd

    norm = resolve_normalizer(normalizer)
    raw = raw_normalizer()
    speakers = speakers or {}
    errors = errors or {}
    ids = list(dict.fromkeys([*references, *hypotheses, *(k for k, v in errors.items() if v)]))

    rows: list[dict] = []
    scored: list[int] = []
    refs_n, hyps_n, refs_r, hyps_r = [], [], [], []
    dropped_all: set[str] = set()
    for uid in ids:
        ref, hyp = references.get(uid), hypotheses.get(uid)
        row = {"id": uid, "speaker": speakers.get(uid), "reference": ref, "hypothesis": hyp, "error": None,
               "note": None}
        if errors.get(uid):
            row["error"] = str(errors[uid])
        elif ref is None:
            row["error"] = "no reference text for this utterance; it is transcribed but not scored"
        elif hyp is None:
            row["error"] = "no hypothesis for this utterance"
        rows.append(row)
        if row["error"] is not None:
            continue
        if isinstance(norm, Normalizer):
            (rn, rd), (hn, hd) = norm.explain(ref), norm.explain(hyp)
        else:
            rn, rd, hn, hd = norm(ref), [], norm(hyp), []
        row["ref_norm"], row["hyp_norm"] = rn, hn
        row["_dropped"] = sorted(set(rd) | set(hd))
        dropped_all.update(row["_dropped"])
        scored.append(len(rows) - 1)
        refs_n.append(rn)
        hyps_n.append(hn)
        refs_r.append(raw(ref))
        hyps_r.append(raw(hyp))

    aligned: dict[str, _Aligned] = {}
    if scored:
        words = jiwer.process_words(refs_n, hyps_n)
        chars = jiwer.process_characters(refs_n, hyps_n)
        raw_words = jiwer.process_words(refs_r, hyps_r)
        for k, i in enumerate(scored):
            row = rows[i]
            h, s, d, ins = _counts(words.alignments[k])
            ch, cs, cd, ci = _counts(chars.alignments[k])
            _, rs, rd, ri = _counts(raw_words.alignments[k])
            n_ref, n_chr, n_raw = len(words.references[k]), len(chars.references[k]), len(raw_words.references[k])
            row.update(ref_words=n_ref, hyp_words=len(words.hypotheses[k]), hits=h, substitutions=s, deletions=d,
                       insertions=ins, errors=s + d + ins, wer=_rate(s + d + ins, n_ref), ref_chars=n_chr,
                       char_errors=cs + cd + ci, cer=_rate(cs + cd + ci, n_chr), raw_ref_words=n_raw,
                       raw_errors=rs + rd + ri, raw_wer=_rate(rs + rd + ri, n_raw), correct=(s + d + ins) == 0)
            notes = []
            if n_ref == 0:
                notes.append(f"empty reference: WER undefined (NaN), left out of the mean; its {ins} inserted "
                             f"word(s) count in the pooled figures")
            elif len(words.hypotheses[k]) == 0:
                notes.append(f"empty hypothesis: all {n_ref} reference words deleted")
            if row["_dropped"]:
                notes.append("dropped by the normaliser (not in the alphabet): " + " ".join(row["_dropped"]))
            row["note"] = "; ".join(notes) or None
            aligned[row["id"]] = _Aligned(words.references[k], words.hypotheses[k], words.alignments[k],
                                          chars.references[k], chars.hypotheses[k], chars.alignments[k])

    for r in rows:
        r.pop("_dropped", None)
    df = pd.DataFrame(rows, columns=list(UTTERANCE_COLUMNS))
    for col in COUNT_COLUMNS:
        df[col] = df[col].astype("Int64")
    for col in ("wer", "cer", "raw_wer"):
        df[col] = df[col].astype(float)
    df["correct"] = df["correct"].astype("boolean")

    ok = df[df["error"].isna()]
    err = ok["errors"].to_numpy(dtype=float)
    ref = ok["ref_words"].to_numpy(dtype=float)
    cerr, cref = ok["char_errors"].to_numpy(dtype=float), ok["ref_chars"].to_numpy(dtype=float)
    notes = []
    n_empty = int((ok["ref_words"] == 0).sum())
    if n_empty:
        notes.append(f"{n_empty} utterance(s) with an empty reference: WER undefined per utterance (NaN, "
                     f"left out of the mean); their {int(ok.loc[ok['ref_words'] == 0, 'insertions'].sum())} "
                     f"inserted word(s) count in the pooled WER")
    if len(df) - len(ok):
        notes.append(f"{len(df) - len(ok)} error row(s) left out of every figure (see the 'error' column)")
    if dropped_all:
        notes.append("characters outside the normaliser's alphabet were dropped: " + " ".join(sorted(dropped_all)))
    if not len(ok):
        notes.append("nothing was scored: every row is an error row")
    wer_ci, cer_ci = bootstrap_ratio_cis([(err, ref), (cerr, cref)], n_boot=n_boot, seed=seed)
    return CorpusScore(
        name=name, per_utterance=df, normalizer=getattr(norm, "describe", lambda: repr(norm))(),
        wer=_rate(err.sum(), ref.sum()), cer=_rate(cerr.sum(), cref.sum()),
        mean_wer=float(np.nanmean(ok["wer"])) if ok["wer"].notna().any() else float("nan"),
        wer_ci=wer_ci, cer_ci=cer_ci,
        raw_wer=_rate(ok["raw_errors"].sum(), ok["raw_ref_words"].sum()),
        n_boot=n_boot, seed=seed, notes=notes, provenance=dict(provenance or {}), _aligned=aligned,
        _normalize=norm)


__all__ = ["CorpusScore", "WordOp", "score_corpus"]
