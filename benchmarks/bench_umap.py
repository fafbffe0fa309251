"""UMAP through ``workbench.representations.embeddings.project``: first call in a fresh process, and warm.

    python benchmarks/bench_umap.py            # 50,000 x 768 frames, project's default subsample
    python benchmarks/bench_umap.py --quick    # 5,000 x 768

First call: a fresh Python process imports the workbench, makes the table and calls
``project(x)`` (defaults: PCA-50, seeded subsample of 10,000 rows, UMAP); its wall time from
process start to the coordinates is measured twice: with an empty numba cache (the first
projection on a machine: umap-learn's kernels are compiled and written to
``$WORKBENCH_CACHE/numba``) and again in another fresh process (every later first call: the
kernels load from the cache).  Baselines in the same run: a fresh process doing only the
imports, and a fresh process calling umap-learn directly without the cache.

Warm: in one process, ``project(x, cache=False)`` against umap-learn called directly on the
same rows (``PCA(50)`` then ``umap.UMAP(...).fit_transform``, the same options), interleaved,
medians.  Wall and process CPU seconds are both recorded: on a shared machine wall time
includes waiting for the CPU, CPU time does not.  The data are a seeded mixture of 40
Gaussian clusters in 768 dimensions (the width of wav2vec2-base hidden states), so the run
needs no model.
"""
from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

import numpy as np

from common import HERE, Report, parser, setup_env


def synthetic_frames(n: int, dims: int, *, clusters: int = 40, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    centres = rng.normal(scale=1.0, size=(clusters, dims))  # overlapping, like phone classes
    labels = rng.integers(0, clusters, size=n)
    return (centres[labels] + rng.normal(size=(n, dims))).astype(np.float32)


CHILD = r"""
import sys, time, json
t0 = time.perf_counter()
sys.path.insert(0, {here!r})
from bench_umap import synthetic_frames
x = synthetic_frames({n}, {dims})
mode = {mode!r}
if mode == "imports":
    import umap  # noqa: F401
    from workbench.representations.embeddings import project  # noqa: F401
elif mode == "direct":
    import umap
    from sklearn.decomposition import PCA
    rows = x[:{sub}]
    umap.UMAP(n_components=2, n_neighbors=15, min_dist=0.1, random_state=0).fit_transform(
        PCA(n_components=50, random_state=0).fit_transform(rows))
else:
    from workbench.representations.embeddings import project
    project(x, cache=False, progress=False)
print(json.dumps({{"wall": time.perf_counter() - t0, "cpu": time.process_time()}}))
"""


def fresh_process(mode: str, n: int, dims: int, sub: int, env: dict) -> dict:
    code = CHILD.format(here=str(HERE), n=n, dims=dims, mode=mode, sub=sub)
    t0 = time.perf_counter()
    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=1800)
    if done.returncode:
        raise RuntimeError(f"{mode}: {done.stderr[-2000:]}")
    out = json.loads(done.stdout.strip().splitlines()[-1])
    out["process_wall"] = time.perf_counter() - t0
    return out


def main(argv: list[str] | None = None) -> int:
    p = parser(__doc__.splitlines()[0])
    p.add_argument("--n", type=int, default=None, help="number of frames (default 50,000; 2,000 with --quick)")
    p.add_argument("--dims", type=int, default=768)
    p.add_argument("--repeat", type=int, default=None, help="warm rounds (default 3; 1 with --quick)")
    args = p.parse_args(argv)
    setup_env()
    n = args.n or (2_000 if args.quick else 50_000)
    cache = tempfile.mkdtemp(prefix="wb-bench-umap-")
    os.environ["WORKBENCH_CACHE"] = cache  # a cold projection cache and a cold numba cache
    env = {**os.environ, "WORKBENCH_PROGRESS": "0"}
    env.pop("NUMBA_CACHE_DIR", None)
    from workbench.representations.embeddings import project

    sub = min(n, project.__kwdefaults__["subsample"] or n)
    report = Report("umap", args.quick)
    size = f"{n} x {args.dims}"
    print(f"UMAP benchmark: {size} float32, project() defaults (PCA-50, subsample {sub}), {os.cpu_count()} CPUs, "
          f"load average {os.getloadavg()[0]:.1f}", flush=True)

    full = not args.quick
    if full:  # the quick (smoke) run skips the fresh-process rows: each one compiles umap's kernels again
        base = fresh_process("imports", n, args.dims, sub, env)
        report.add("umap first call", "fresh process: imports + data only", base["wall"], "s",
                   note=f"{base['cpu']:.1f} s CPU; the floor of any first call")
        direct = fresh_process("direct", n, args.dims, sub, env)
        report.add("umap first call", f"fresh process: umap-learn directly on {sub} rows (PCA-50)", direct["wall"],
                   "s", note=f"{direct['cpu']:.1f} s CPU; umap-learn compiles its numba kernels in every process")
        cold = fresh_process("project", n, args.dims, sub, env)
        report.add("umap first call", "fresh process: project(), empty numba cache (first ever)", cold["wall"], "s",
                   baseline="umap-learn directly, fresh process", ratio=direct["wall"] / cold["wall"],
                   note=f"{cold['cpu']:.1f} s CPU; compiles and writes the kernels to $WORKBENCH_CACHE/numba")
        first = fresh_process("project", n, args.dims, sub, env)
        report.add("umap first call", "fresh process: project(), numba cache filled", first["wall"], "s",
                   baseline="umap-learn directly, fresh process", ratio=direct["wall"] / first["wall"],
                   target="<= 30 s", met=first["wall"] <= 30,
                   note=f"{first['cpu']:.1f} s CPU; every first call after the first one on this machine")

    import umap
    from sklearn.decomposition import PCA

    x = synthetic_frames(n, args.dims)
    rows = x[np.sort(np.random.default_rng(0).choice(n, size=sub, replace=False))] if sub < n else x

    def direct_fit():
        return umap.UMAP(n_components=2, n_neighbors=15, min_dist=0.1, random_state=0).fit_transform(
            PCA(n_components=50, random_state=0).fit_transform(rows))

    runs = {"direct": direct_fit, "project": lambda: project(x, cache=False, progress=False)}
    wall: dict[str, list[float]] = {k: [] for k in runs}
    cpu: dict[str, list[float]] = {k: [] for k in runs}
    for fn in runs.values():
        fn()  # warm: kernels compiled or loaded in this process
    for _ in range(args.repeat or (1 if args.quick else 3)):
        for key, fn in runs.items():
            w0, c0 = time.perf_counter(), time.process_time()
            fn()
            wall[key].append(time.perf_counter() - w0)
            cpu[key].append(time.process_time() - c0)
    med = {k: statistics.median(v) for k, v in wall.items()}
    med_cpu = {k: statistics.median(v) for k, v in cpu.items()}
    report.add("umap warm", f"umap-learn directly, PCA-50 of {sub} rows", med["direct"], "s",
               note=f"{med_cpu['direct']:.1f} s CPU")
    ratio = med["project"] / med["direct"]
    report.add("umap warm", f"project(), {size} (subsample {sub})", ratio, "x time",
               baseline="umap-learn directly", ratio=1 / ratio, target="<= 1.1x" if full else None,
               met=(ratio <= 1.1) if full else None,
               note=f"{med['project']:.1f} s wall, {med_cpu['project']:.1f} s CPU "
                    f"({med_cpu['project'] / med_cpu['direct']:.2f}x direct's CPU); median of "
                    f"{len(wall['project'])} interleaved rounds; hash + subsample + PCA + UMAP")
    report.extra.update({"frames": n, "dims": args.dims, "subsample": sub,
                         "load_avg_1m_end": round(os.getloadavg()[0], 2),
                         "data": "seeded mixture of 40 Gaussian clusters (no model needed)"})
    report.write()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
