"""Decoding cost and accuracy on datasets/kokoro-eval: greedy, beam search, beam search + demo-lm.

    python benchmarks/bench_decoding.py [--quick]

Baseline: the forward pass of ``w2v2-tiny-ctc`` over the same utterances (``engine.analyze``
with the cache off), per utterance.  Measured: decoding the cached log-probs
(``asr.decoding.decode_result``) greedy, beam search without an LM and with ``demo-lm``, at
beam widths 100 (pyctcdecode's default) and 20; best of ``--repeat`` runs, reported per
utterance and as a ratio of the forward pass.  Each decoder's WER/CER on the same utterances
is reported beside it (the LM bar of issue 16: WER <= 20% with ``--decoder beam --lm demo-lm``).
"""
from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import ROOT, Report, parser, setup_env, timeit  # noqa: E402

MODEL = "w2v2-tiny-ctc"


def main(argv: list[str] | None = None) -> int:
    p = parser(__doc__.splitlines()[0])
    p.add_argument("--repeat", type=int, default=None, help="timed runs per decoder (default 3; 1 with --quick)")
    args = p.parse_args(argv)
    setup_env()
    from workbench.asr.engine import analyze
    from workbench.data.corpus import Corpus
    from workbench.models.registry import ModelRegistry
    from workbench.scoring.wer import score_corpus

    report = Report("bench_decoding", args.quick)
    corpus = Corpus.load(ROOT / "datasets" / "kokoro-eval" / "manifest.jsonl")
    if args.quick:
        corpus = corpus.subset(6)
    reg = ModelRegistry()
    reps = args.repeat or (1 if args.quick else 3)
    result = None

    def forward():
        nonlocal result
        result = analyze(corpus, MODEL, registry=reg, cache=False, progress=False)

    fwd = timeit(forward, repeat=reps)["best"]
    n = len(result.ok)
    report.add("decoding", "forward pass (baseline)", fwd / n * 1000, "ms/utt",
               note=f"{MODEL}, {n} utterances of kokoro-eval, {sum(a.duration for a in result.ok) / n:.2f} s each")
    refs = {a.id: a.reference for a in result}
    try:
        from workbench.asr.decoding import decode_result
        import pyctcdecode  # noqa: F401
        import kenlm  # noqa: F401
    except ImportError as exc:
        report.add("decoding", "beam search", "n/a", note=f"not installed: {exc}")
        report.write()
        return 0
    cases = [("greedy", {}), ("beam 100, no LM", {"decoder": "beam"}), ("beam 100 + demo-lm", {"lm": "demo-lm"}),
             ("beam 20, no LM", {"decoder": "beam", "beam_width": 20}),
             ("beam 20 + demo-lm", {"lm": "demo-lm", "beam_width": 20})]
    for label, kw in cases:
        decode_result(result, registry=reg, **kw)  # the decoder (and the LM) built once, outside the timing
        hyps: dict = {}
        t = timeit(lambda: hyps.update(decode_result(result, registry=reg, **kw)), repeat=reps, warmup=0)["best"]
        score = score_corpus(refs, hyps, n_boot=0, name=label)
        lm_bar = "lm" in kw and kw.get("beam_width", 100) == 100
        report.add("decoding", f"{label}: time", t / n * 1000, "ms/utt", baseline="forward pass", ratio=t / fwd,
                   note=f"WER {score.wer:.1%}, CER {score.cer:.1%}")
        if lm_bar:
            report.add("decoding", f"{label}: WER", score.wer, target="<= 0.20", met=bool(score.wer <= 0.20),
                       note="issue 16 bar, kokoro-eval" + (" (subset)" if args.quick else ""))
    report.write()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
