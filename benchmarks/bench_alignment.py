"""CTC forced alignment time as a fraction of the forward pass, and its memory on an hour of frames.

    python benchmarks/bench_alignment.py            # 10 s and 10 min on the base architecture + the hour case
    python benchmarks/bench_alignment.py --quick    # 10 s and 30 s, the hour case at 1/20 scale
    python benchmarks/bench_alignment.py --only memory   # just the hour-scale memory case

Sections (issue #4 "done when", issue #9 part 2):
  ratio    the forward pass of 'wav2vec2-base-960h-arch' (wav2vec2-base-960h's config with seeded
           random weights, through the registry and the engine: ``analyze(..., cache=False)``,
           chunked above 60 s exactly as users get it) on 10 s and 10 min of real speech (the
           evaluation set back to back), against ``forced_align`` of a reference of the same
           length as real speech has (~14 characters per second, taken from the evaluation
           texts) to the emissions that pass produced, and ``greedy_alignment``.  The random
           model's emissions are nearly flat, the worst case for any pruning, so the exact
           (beam=None) Viterbi is timed.  Ratio = alignment seconds / forward seconds.
  memory   (--quick: 9,000 frames, 2,001 states, a 4 MiB budget so the checkpointed path runs)
           180,000 frames (an hour at 20 ms) x 32 tokens, ~40,000 trellis states (a ~20,000
           character transcript), constructed peaked emissions (a known frame labelling with
           noise): the exact Viterbi with checkpointed backpointers (64 MiB budget) and the
           beam-pruned one (beam 30 nats), each in its own process: the time of one run, then the
           peak traced allocations of a second, traced run (``tracemalloc``, numpy included; the
           emissions themselves excluded), the process's
           peak resident memory (VmHWM), time, the share of frames whose label matches the known labelling, and
           whether the two paths agree.
"""
from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import ROOT, Report, parser, setup_env, timeit  # noqa: E402

SR = 16_000
CHARS_PER_SECOND = 14.0
MODEL = "wav2vec2-base-960h-arch"


def speech(seconds: float, corpus):
    import numpy as np

    out, total = [], 0
    while total < seconds * SR:
        for u in corpus:
            a = u.load(SR)
            out.append(a)
            total += len(a)
            if total >= seconds * SR:
                break
    return np.concatenate(out)[: int(seconds * SR)]


def reference_text(seconds: float, corpus) -> str:
    """Evaluation sentences back to back until ~14 characters per second of audio."""
    words: list[str] = []
    need = seconds * CHARS_PER_SECOND
    while sum(len(w) + 1 for w in words) < need:
        for u in corpus:
            words += (u.text or "").split()
            if sum(len(w) + 1 for w in words) >= need:
                break
    out, n = [], 0
    for w in words:
        if n + len(w) + 1 > need:
            break
        out.append(w)
        n += len(w) + 1
    return " ".join(out)


def ratio_section(report: Report, seconds_list: list[float], model: str, *, quick: bool = False) -> None:
    from workbench.asr.alignment import forced_align, greedy_alignment
    from workbench.data.corpus import Corpus
    from workbench.asr.engine import analyze
    from workbench.models.registry import ModelRegistry

    corpus = Corpus.load(ROOT / "datasets" / "kokoro-eval" / "manifest.jsonl")
    reg = ModelRegistry()
    reg.get(model)  # load outside the timing
    for seconds in seconds_list:
        audio = speech(seconds, corpus)
        text = reference_text(seconds, corpus)
        label = f"{seconds:g} s" if seconds < 60 else f"{seconds / 60:g} min"
        src = Corpus.from_arrays({"clip": audio}, texts={"clip": text})
        box = {}

        def forward():
            box["a"] = analyze(src, model, registry=reg, cache=False, progress=False)["clip"]

        once = quick or seconds >= 60
        fwd = timeit(forward, repeat=1 if once else 3, warmup=0 if once else 1)
        a = box["a"]
        if not a.ok:
            raise RuntimeError(a.error)
        res = {}
        al = timeit(lambda: res.setdefault("fa", forced_align(a)), repeat=1 if seconds >= 60 else 5,
                    warmup=0 if once else 1)
        gr = timeit(lambda: greedy_alignment(a), repeat=3, warmup=1)
        fa = res["fa"]
        report.add("ratio", f"forward pass, {label}", fwd["median"], "s",
                   note=f"{model} via analyze(cache=False); {a.num_frames} frames" + (", chunked" if a.chunked else ""))
        report.add("ratio", f"forced alignment, {label}", al["median"], "s", baseline=f"forward pass, {label}",
                   ratio=al["median"] / fwd["median"], target="<= 0.02 of the forward pass",
                   met=al["median"] / fwd["median"] <= 0.02,
                   note=f"{len(text)} chars, {fa.stats['states']} states, exact Viterbi, "
                        f"{'checkpointed' if fa.stats['checkpointed'] else 'all backpointers kept'}")
        report.add("ratio", f"greedy alignment, {label}", gr["median"], "s", baseline=f"forward pass, {label}",
                   ratio=gr["median"] / fwd["median"])


# --------------------------------------------------------------------------- hour-scale memory
def constructed(frames: int, labels: int, seed: int = 0):
    """Peaked emissions of a random character sequence spoken over ``frames`` frames."""
    import numpy as np

    rng = np.random.default_rng(seed)
    letters = np.arange(5, 32)
    ids = rng.choice(letters, size=labels)
    words = rng.integers(2, 8, size=labels)  # a delimiter (id 4) after every few letters
    ids[np.cumsum(words)[np.cumsum(words) < labels]] = 4
    # repeated neighbours need a blank between; make them differ instead (keeps the length exact)
    same = np.flatnonzero(ids[1:] == ids[:-1]) + 1
    ids[same] = np.where(ids[same] == 5, 6, 5)
    dur = rng.integers(1, 5, size=labels)
    gaps = rng.integers(0, 4, size=labels)
    scale = (frames - 2) / (dur.sum() + gaps.sum())
    dur = np.maximum(1, np.round(dur * scale).astype(int))
    gaps = np.maximum(0, np.round(gaps * scale).astype(int))
    truth = np.zeros(frames, dtype=np.int64)
    t = 1
    for lab, d, g in zip(ids, dur, gaps):
        if t + d > frames - 1:
            d = max(1, frames - 1 - t)
        truth[t:t + d] = lab
        t = min(frames - 1, t + d + g)
    p = rng.dirichlet(np.ones(32), size=frames).astype(np.float32) * 0.4
    p[np.arange(frames), truth] += 0.6
    return np.log(p), ids, truth


def _vm_hwm_mib() -> float:
    """This process's peak resident memory (VmHWM; unlike ru_maxrss it is not inherited over fork+exec)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def memory_case(frames: int, labels: int, beam: float | None, budget: int = 64 << 20) -> dict:
    """Run one alignment and measure it (called in a fresh process)."""
    import tracemalloc

    import numpy as np

    from workbench.asr.trellis import build_trellis, viterbi

    lp, ids, truth = constructed(frames, labels)
    rss0 = _vm_hwm_mib()
    t0 = time.perf_counter()  # timed without tracemalloc (it slows every allocation down)
    tr = build_trellis(ids, 0)
    res = viterbi(lp, tr, beam=beam, max_backpointer_bytes=budget)
    seconds = time.perf_counter() - t0
    del res
    tracemalloc.start()  # the same alignment again, traced, for its peak memory
    tr = build_trellis(ids, 0)
    res = viterbi(lp, tr, beam=beam, max_backpointer_bytes=budget)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    path_ids = tr.ids[res.states]
    return {"frames": frames, "states": tr.num_states, "beam": beam, "seconds": seconds,
            "traced_peak_mib": peak / 2**20, "max_rss_mib": _vm_hwm_mib(),
            "rss_before_mib": rss0, "emissions_mib": lp.nbytes / 2**20,
            "checkpointed": res.checkpointed, "backpointer_mib": res.backpointer_bytes / 2**20,
            "checkpoint_mib": res.checkpoint_bytes / 2**20, "cells": res.cells,
            "frame_agreement": float(np.mean(path_ids == truth)), "path": res.states.tolist()[:: max(1, frames // 2000)]}


def memory_section(report: Report, frames: int, labels: int, budget: int = 64 << 20) -> None:
    results = {}
    for beam in (None, 30.0):
        cmd = [sys.executable, __file__, "--memory-case", str(frames), str(labels), "none" if beam is None else str(beam),
               str(budget)]
        out = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, check=True)
        results[beam] = json.loads(out.stdout.strip().splitlines()[-1])
    exact, pruned = results[None], results[30.0]
    scale = f"{frames} frames x 32 tokens, {exact['states']} states, backpointer budget {budget / 2**20:g} MiB"
    for name, r in (("exact (checkpointed)", exact), ("beam 30", pruned)):
        report.add("memory", f"{name}: peak traced memory", r["traced_peak_mib"], "MiB",
                   note=f"{scale}; emissions {r['emissions_mib']:.0f} MiB not counted; backpointers "
                        f"{r['backpointer_mib']:.1f} MiB, checkpoints {r['checkpoint_mib']:.1f} MiB"
                        + (", checkpointed" if r["checkpointed"] else ""))
        report.add("memory", f"{name}: peak RSS of the process", r["max_rss_mib"], "MiB",
                   note=f"{r['max_rss_mib'] - r['rss_before_mib']:.0f} MiB more than before aligning")
        report.add("memory", f"{name}: time", r["seconds"], "s", note=f"{r['cells']:.3g} trellis cells computed")
        report.add("memory", f"{name}: frames labelled as constructed", r["frame_agreement"], "fraction")
    report.add("memory", "beam 30 path == exact path", str(exact["path"] == pruned["path"]), "",
               note="compared on every frames//2000-th frame")
    report.add("memory", "whole process before aligning", exact["rss_before_mib"], "MiB",
               note="python + numpy + the constructed emissions")
    report.add("memory", "beam 30 time", pruned["seconds"], "s", baseline="exact (checkpointed) time",
               ratio=pruned["seconds"] / exact["seconds"])


def main() -> int:
    if len(sys.argv) > 1 and sys.argv[1] == "--memory-case":
        setup_env()
        frames, labels, beam, budget = int(sys.argv[2]), int(sys.argv[3]), sys.argv[4], int(sys.argv[5])
        print(json.dumps(memory_case(frames, labels, None if beam == "none" else float(beam), budget)))
        return 0
    p = parser(__doc__.splitlines()[0])
    p.add_argument("--only", choices=["ratio", "memory"], default=None)
    args = p.parse_args()
    setup_env()
    if args.threads:
        import torch

        torch.set_num_threads(args.threads)
    report = Report("alignment", quick=args.quick)
    if args.only in (None, "ratio"):
        ratio_section(report, [10.0, 30.0] if args.quick else [10.0, 600.0], MODEL, quick=args.quick)
    if args.only in (None, "memory"):
        if args.quick:
            memory_section(report, 9_000, 1_000, budget=4 << 20)  # small budget: the checkpointed path runs
        else:
            memory_section(report, 180_000, 20_000)
    report.write()
    return 0


if __name__ == "__main__":
    sys.exit(main())
