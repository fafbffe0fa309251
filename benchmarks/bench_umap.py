"""UMAP of 50k frames x 768 dims (PCA-50 first), cold and warm, through ``workbench.embeddings.project``.

    python benchmarks/bench_umap.py            # 50,000 x 768 (the issue's size)
    python benchmarks/bench_umap.py --quick    # 5,000 x 768

Cold is the first UMAP fit in a fresh process (numba compiles umap-learn's and pynndescent's
kernels); warm is the same fit again in that process.  The baselines in the same run are
PCA-50 alone and PCA to 2-D (the fallback method), and a disk-cache hit of the projection.
Wall and process CPU seconds are both recorded: on a shared machine wall time includes
waiting for the CPU, CPU time does not.  The data are a seeded mixture of 40 Gaussian
clusters in 768 dimensions (the width of wav2vec2-base hidden states), so the run needs no
model.  Prints the rows and writes ``benchmarks/results/umap.json`` (``results/quick/umap.json``
for ``--quick``) through ``benchmarks/common.py``, so ``run_all.py`` merges it.
"""
from __future__ import annotations

import os
import tempfile
import time

import numpy as np

from common import Report, parser, setup_env


def synthetic_frames(n: int, dims: int, *, clusters: int = 40, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    centres = rng.normal(scale=1.0, size=(clusters, dims))  # overlapping, like phone classes.astype(np.float32)
    labels = rng.integers(0, clusters, size=n)
    return centres[labels] + rng.normal(size=(n, dims)).astype(np.float32)


def timed(fn):
    """(result, wall seconds, process CPU seconds) of one call."""
    w0, c0 = time.perf_counter(), time.process_time()
    out = fn()
    return out, time.perf_counter() - w0, time.process_time() - c0


def main(argv: list[str] | None = None) -> int:
    p = parser(__doc__.splitlines()[0])
    p.add_argument("--n", type=int, default=None, help="number of frames (default 50,000; 5,000 with --quick)")
    p.add_argument("--dims", type=int, default=768)
    p.add_argument("--pca-dims", type=int, default=50)
    args = p.parse_args(argv)
    setup_env()
    n = args.n or (5_000 if args.quick else 50_000)
    os.environ["WORKBENCH_CACHE"] = tempfile.mkdtemp(prefix="wb-bench-umap-")  # a cold projection cache
    from sklearn.decomposition import PCA

    from workbench.representations.embeddings import project

    x = synthetic_frames(n, args.dims)
    report = Report("umap", args.quick)
    size = f"{n} x {args.dims}"
    print(f"UMAP benchmark: {size} float32, PCA-{args.pca_dims} first, {os.cpu_count()} CPUs, "
          f"load average {os.getloadavg()[0]:.1f}")
    opts = {"subsample": None, "pca_dims": args.pca_dims}

    _, pca_w, pca_c = timed(lambda: PCA(n_components=args.pca_dims, random_state=0).fit_transform(x))
    report.add("umap", f"PCA-{args.pca_dims} of {size}", pca_w, "s", note=f"{pca_c:.1f} s CPU; the pre-reduction")
    _, p2_w, p2_c = timed(lambda: project(x, method="pca", cache=False, **opts))
    report.add("umap", f"project pca 2-D, {size}", p2_w, "s", note=f"{p2_c:.1f} s CPU; the fast fallback")
    cold, cold_w, cold_c = timed(lambda: project(x, method="umap", cache=False, **opts))
    report.add("umap", f"project umap cold, {size}", cold_w, "s", baseline="project pca 2-D", ratio=cold_w / p2_w,
               note=f"{cold_c:.1f} s CPU; first fit in the process, numba JIT included")
    warm, warm_w, warm_c = timed(lambda: project(x, method="umap", **opts))
    full = n >= 50_000 and args.dims == 768
    report.add("umap", f"project umap warm, {size}", warm_w, "s", baseline="project umap cold",
               ratio=warm_w / cold_w, target="< 60 s at 50k x 768" if full else None,
               met=(warm_w < 60) if full else None, note=f"{warm_c:.1f} s CPU; compiled kernels")
    hit, hit_w, _ = timed(lambda: project(x, method="umap", **opts))
    report.add("umap", f"project umap cache hit, {size}", hit_w, "s", baseline="project umap warm",
               ratio=hit_w / warm_w, note=f"cached={hit.cached}: data hash + file read")
    same = bool(np.array_equal(cold.coords, warm.coords))
    report.add("umap", "seeded cold == warm coordinates", str(same))
    report.extra.update({"frames": n, "dims": args.dims, "pca_dims": args.pca_dims,
                         "load_avg_1m_end": round(os.getloadavg()[0], 2),
                         "data": "seeded mixture of 40 Gaussian clusters (no model needed)"})
    report.write()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
