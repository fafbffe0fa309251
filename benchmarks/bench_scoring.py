"""WER scoring of 10k utterance pairs: workbench.scoring against a bare jiwer call, in one run.

    python benchmarks/bench_scoring.py [--quick]

Pairs: the kokoro-eval reference sentences, cycled to N, each with a seeded random hypothesis
(about 10% of words substituted, 3% deleted, 3% inserted).  Baseline: one
``jiwer.process_words`` call on already-normalised text (the least any scorer must do).
Measured: ``score_corpus`` as users call it (normalisation with per-utterance explanations,
word and character alignments, raw-text WER beside the normalised one, per-utterance table,
bootstrap CI with 1000 resamples), and without the bootstrap.  The pooled WER must equal
jiwer's on the same normalised text.
"""
from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import ROOT, Report, parser, setup_env, timeit  # noqa: E402


def make_pairs(n: int, seed: int = 0) -> tuple[dict[str, str], dict[str, str]]:
    import json

    import numpy as np

    rows = [json.loads(line) for line in (ROOT / "datasets" / "kokoro-eval" / "manifest.jsonl").read_text().splitlines()
            if line.strip()]
    sentences = [r["text"] for r in rows]
    words = sorted({w.strip(".,?!;:").lower() for s in sentences for w in s.split()} - {""})
    rng = np.random.default_rng(seed)
    refs, hyps = {}, {}
    for i in range(n):
        ref = sentences[i % len(sentences)]
        out = []
        for w in ref.split():
            r = rng.random()
            if r < 0.10:
                out.append(words[rng.integers(len(words))])
            elif r < 0.13:
                continue
            else:
                out.append(w)
            if rng.random() < 0.03:
                out.append(words[rng.integers(len(words))])
        refs[f"u{i:05d}"] = ref
        hyps[f"u{i:05d}"] = " ".join(out)
    return refs, hyps


def main(argv: list[str] | None = None) -> int:
    args = parser(__doc__.splitlines()[0]).parse_args(argv)
    setup_env()
    import jiwer

    report = Report("bench_scoring", args.quick)
    n = 500 if args.quick else 10_000
    refs, hyps = make_pairs(n)
    try:
        from workbench.scoring.normalize import default_normalizer
        from workbench.scoring.wer import score_corpus
    except ImportError:  # the scoring module is not there: the baseline alone
        score_corpus = None
    if score_corpus is not None:
        norm = default_normalizer()
        ref_n = [norm(refs[k]) for k in refs]
        hyp_n = [norm(hyps[k]) for k in refs]
    else:
        ref_n = [" ".join(jiwer.RemovePunctuation()(refs[k]).upper().split()) for k in refs]
        hyp_n = [" ".join(jiwer.RemovePunctuation()(hyps[k]).upper().split()) for k in refs]
    reps = 2 if args.quick else 3
    t_jiwer = timeit(lambda: jiwer.process_words(ref_n, hyp_n), repeat=reps)["best"]
    wer_jiwer = jiwer.process_words(ref_n, hyp_n).wer
    report.add("scoring", f"jiwer.process_words, {n} pairs (normalised text)", t_jiwer, "s",
               note=f"WER {100 * wer_jiwer:.2f}%")
    if score_corpus is None:
        report.add("scoring", "workbench.scoring", None, note="skipped: workbench.scoring not importable")
        report.write()
        return 0
    result = {}

    def full():
        result["full"] = score_corpus(refs, hyps)

    def no_boot():
        result["plain"] = score_corpus(refs, hyps, n_boot=0)

    t_full = timeit(full, repeat=reps)["best"]
    t_plain = timeit(no_boot, repeat=reps)["best"]
    same = abs(result["full"].wer - wer_jiwer) < 1e-12
    report.add("scoring", f"score_corpus, {n} pairs (with 1000-resample bootstrap CI)", t_full, "s",
               baseline="bare jiwer.process_words", ratio=t_jiwer / t_full,
               target="< 0.5 s for 10k" if not args.quick else None, met=(t_full < 0.5) if not args.quick else None,
               note=f"pooled WER {100 * result['full'].wer:.2f}% {'equals' if same else 'DIFFERS FROM'} jiwer's")
    report.add("scoring", f"score_corpus, {n} pairs (no bootstrap)", t_plain, "s", baseline="bare jiwer.process_words",
               ratio=t_jiwer / t_plain, target="< 0.5 s for 10k" if not args.quick else None,
               met=(t_plain < 0.5) if not args.quick else None,
               note="normalisation + word and char alignments + raw WER + per-utterance table")
    report.write()
    return 0 if same else 1


if __name__ == "__main__":
    sys.exit(main())
