"""Two or more systems scored on the same corpus: side-by-side figures and paired tests.

Every pair (baseline A, other system B) is compared on the utterances both scored (error
rows and empty references of either are left out of the tests):

- paired bootstrap (same resampled utterances for both): P(B's pooled WER < A's) and a 95%
  interval of the pooled WER difference B - A;
- McNemar's exact test on utterance-level correctness (an utterance is correct when it has
  no word error), as NIST sclite's ``sc_stats`` offers;
- a sign test and the Wilcoxon signed-rank test on per-utterance error counts.
"""
from __future__ import annotations

import html
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Mapping

import numpy as np

from .significance import mcnemar, paired_bootstrap, sign_test

TEST_COLUMNS = ["a", "b", "utterances", "wer_a", "wer_b", "delta", "delta_lo", "delta_hi", "p_b_better",
                "mcnemar_a_only", "mcnemar_b_only", "mcnemar_p", "sign_plus", "sign_minus", "sign_ties", "sign_p",
                "wilcoxon_p"]


@dataclass
class Comparison:
    """The systems' corpus figures side by side, per-utterance differences and the paired tests."""

    systems: list[str]
    table: "object"  # DataFrame: one row of corpus figures per system
    per_utterance: "object"  # DataFrame: id, reference, then wer_/errors_/hyp_ per system, delta_ per pair
    tests: "object"  # DataFrame: one row per (baseline, other) pair, TEST_COLUMNS
    n_boot: int
    seed: int
    notes: list[str] = field(default_factory=list)

    def to_frame(self):
        """The side-by-side corpus table."""
        return self.table

    def test(self, b: str, a: str | None = None) -> dict:
        """The test row of system ``b`` against ``a`` (default: the baseline)."""
        a = a or self.systems[0]
        hit = self.tests[(self.tests["a"] == a) & (self.tests["b"] == b)]
        if hit.empty:
            raise KeyError(f"no comparison of {b!r} against {a!r}; systems are {self.systems}")
        return hit.iloc[0].to_dict()

    def summary(self) -> str:
        lines = []
        for _, t in self.tests.iterrows():
            lines.append(f"{t['b']} vs {t['a']}: WER {t['wer_b']:.2%} vs {t['wer_a']:.2%} "
                         f"(delta {t['delta']:+.2%} [{t['delta_lo']:+.2%}, {t['delta_hi']:+.2%}]), "
                         f"P({t['b']} better) = {t['p_b_better']:.3f}, McNemar p = {t['mcnemar_p']:.3g}, "
                         f"sign test p = {t['sign_p']:.3g} over {t['utterances']} utterances")
        return "\n".join(lines)

    def __repr__(self) -> str:
        return f"Comparison({', '.join(self.systems)})\n{self.summary()}"

    def _repr_html_(self) -> str:
        fmt = lambda v: f"{v:.4f}"  # noqa: E731
        systems = self.table.drop(columns=["normalizer"], errors="ignore").to_html(index=False, float_format=fmt)
        return (f"<div><b>Systems</b>{systems}"
                f"<b>Paired tests</b>{self.tests.to_html(index=False, float_format=fmt)}"
                + "".join(f"<p>{html.escape(n)}</p>" for n in self.notes) + "</div>")

    def plot(self, ax=None, *, a: str | None = None, b: str | None = None):
        """Per-utterance WER of system ``b`` against ``a`` (default: the first two)."""
        from ..plots.scoring import plot_system_scatter

        return plot_system_scatter(self, a=a, b=b, ax=ax)

    def save(self, directory: str | Path) -> Path:
        out = Path(directory)
        out.mkdir(parents=True, exist_ok=True)
        self.table.to_csv(out / "comparison_corpus.csv", index=False)
        self.tests.to_csv(out / "comparison_tests.csv", index=False)
        from ..data.tables import write_csv  # spreadsheet-safe: formula-like cells get a leading '

        write_csv(self.per_utterance, out / "comparison_per_utterance.csv")
        (out / "comparison.json").write_text(json.dumps(
            {"systems": self.systems, "n_boot": self.n_boot, "seed": self.seed, "notes": self.notes,
             "tests": json.loads(self.tests.to_json(orient="records"))}, indent=2))
        return out


def compare_systems(scores: Mapping[str, "object"], *, baseline: str | None = None, n_boot: int | None = None,
                    seed: int | None = None) -> Comparison:
    """Compare ``scores`` (name -> CorpusScore, all on the same corpus) against ``baseline`` (default: first)."""
    import pandas as pd

    names = list(scores)
    if len(names) < 2:
        raise ValueError(f"compare_systems needs at least two systems, got {len(names)}: {names}")
    baseline = baseline or names[0]
    if baseline not in scores:
        raise KeyError(f"baseline {baseline!r} is not among the systems {names}")
    first = scores[baseline]
    n_boot = first.n_boot if n_boot is None else n_boot
    seed = first.seed if seed is None else seed

    table = pd.concat([s.to_frame().assign(system=name) for name, s in scores.items()], ignore_index=True)
    per = None
    for name, s in scores.items():
        df = s.per_utterance[["id", "reference", "hypothesis", "errors", "ref_words", "wer", "error"]].rename(
            columns={"hypothesis": f"hyp_{name}", "errors": f"errors_{name}", "ref_words": f"ref_words_{name}",
                     "wer": f"wer_{name}", "error": f"error_{name}"})
        if per is None:
            per = df
        else:
            per = per.merge(df.drop(columns=["reference"]), on="id", how="outer")
    notes = []
    rows = []
    for name in names:
        if name == baseline:
            continue
        per[f"delta_{name}"] = per[f"errors_{name}"] - per[f"errors_{baseline}"]
        both = per[per[f"error_{baseline}"].isna() & per[f"error_{name}"].isna()
                   & per[f"errors_{baseline}"].notna() & per[f"errors_{name}"].notna()]
        dropped = len(per) - len(both)
        if dropped:
            notes.append(f"{name} vs {baseline}: {dropped} utterance(s) not scored by both are left out of the tests")
        ea, eb = both[f"errors_{baseline}"].to_numpy(float), both[f"errors_{name}"].to_numpy(float)
        na, nb = both[f"ref_words_{baseline}"].to_numpy(float), both[f"ref_words_{name}"].to_numpy(float)
        boot = paired_bootstrap(ea, na, eb, nb, n_boot=n_boot, seed=seed)
        mc = mcnemar(ea == 0, eb == 0)
        st = sign_test(ea, eb)
        rows.append({"a": baseline, "b": name, "utterances": len(both),
                     "wer_a": ea.sum() / na.sum() if na.sum() else np.nan,
                     "wer_b": eb.sum() / nb.sum() if nb.sum() else np.nan,
                     "delta": boot.delta, "delta_lo": boot.delta_lo, "delta_hi": boot.delta_hi,
                     "p_b_better": boot.p_b_better, "mcnemar_a_only": mc.a_only, "mcnemar_b_only": mc.b_only,
                     "mcnemar_p": mc.p_value, "sign_plus": st.plus, "sign_minus": st.minus, "sign_ties": st.ties,
                     "sign_p": st.p_value, "wilcoxon_p": st.wilcoxon_p})
    return Comparison(systems=names, table=table, per_utterance=per, tests=pd.DataFrame(rows, columns=TEST_COLUMNS),
                      n_boot=n_boot, seed=seed, notes=notes)
