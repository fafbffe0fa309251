"""WER scoring of 10k utterance pairs: workbench.scoring against a bare jiwer call, in one run.

    python benchmarks/bench_scoring.py [--quick]

Pairs: the kokoro-eval reference sentences, cycled to N, each with a seeded random hypothesis
(about 10% of words substituted, 3% deleted, 3% inserted).  Baseline: one
``jiwer.process_words`` call on already-normalised text (the least any scorer must do).
Measured: ``score_corpus`` as users call it (normalisation with per-utterance explanations,
word alignment, character and raw-text error counts, per-utterance table; the bootstrap
intervals are computed when first read), then the same plus reading ``wer_ci`` (1000
resamples).  Baseline and candidates run interleaved, ``--repeat`` rounds; medians of wall
and of process CPU seconds are reported (CPU time is steadier on a shared machine).  The
pooled WER must equal jiwer's on the same normalised text.
"""
from __future__ import annotations

import statistics
import sys
import time
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
    p = parser(__doc__.splitlines()[0])
    p.add_argument("--repeat", type=int, default=None, help="interleaved rounds (default 7; 3 with --quick)")
    args = p.parse_args(argv)
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
    reps = args.repeat or (3 if args.quick else 7)
    wer_jiwer = jiwer.process_words(ref_n, hyp_n).wer
    if score_corpus is None:
        t = timeit(lambda: jiwer.process_words(ref_n, hyp_n), repeat=reps)["median"]
        report.add("scoring", f"jiwer.process_words, {n} pairs (normalised text)", t, "s")
        report.add("scoring", "workbench.scoring", None, note="skipped: workbench.scoring not importable")
        report.write()
        return 0
    result: dict = {}

    def bare():
        jiwer.process_words(ref_n, hyp_n)

    def scored():
        result["score"] = score_corpus(refs, hyps)

    def with_ci():
        result["ci"] = score_corpus(refs, hyps).wer_ci

    runs = {"jiwer": bare, "score": scored, "ci": with_ci}
    wall: dict[str, list[float]] = {k: [] for k in runs}
    cpu: dict[str, list[float]] = {k: [] for k in runs}
    for fn in runs.values():  # warm-up: imports, first allocations
        fn()
    for _ in range(reps):  # interleaved, so load changes hit baseline and candidates alike
        for name, fn in runs.items():
            w0, c0 = time.perf_counter(), time.process_time()
            fn()
            wall[name].append(time.perf_counter() - w0)
            cpu[name].append(time.process_time() - c0)
    med = {k: statistics.median(v) for k, v in wall.items()}
    med_cpu = {k: statistics.median(v) for k, v in cpu.items()}
    same = abs(result["score"].wer - wer_jiwer) < 1e-12
    report.add("scoring", f"jiwer.process_words, {n} pairs (normalised text)", med["jiwer"], "s",
               note=f"median of {reps} interleaved runs; {med_cpu['jiwer']:.3f} s CPU; WER {100 * wer_jiwer:.2f}%")
    full = not args.quick
    for key, label in (("score", "score_corpus (intervals on first read)"),
                       ("ci", "score_corpus + wer_ci (1000-resample bootstrap)")):
        ratio, ratio_cpu = med[key] / med["jiwer"], med_cpu[key] / med_cpu["jiwer"]
        met = (ratio <= 1.5 and med[key] < 0.5) if full and key == "score" else None
        report.add("scoring", f"{label}, {n} pairs", ratio, "x time", baseline="bare jiwer.process_words",
                   ratio=1 / ratio, target="<= 1.5x of bare jiwer, < 0.5 s" if full and key == "score" else None,
                   met=met, note=f"{med[key]:.3f} s wall, {med_cpu[key]:.3f} s CPU ({ratio_cpu:.2f}x jiwer's CPU); "
                                 f"pooled WER {100 * result['score'].wer:.2f}% "
                                 f"{'equals' if same else 'DIFFERS FROM'} jiwer's")
    report.write()
    return 0 if same else 1


if __name__ == "__main__":
    sys.exit(main())
