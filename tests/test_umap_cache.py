"""umap-learn's numba kernels are cached on disk by project(), so a fresh process does not compile them,
and the progress bar names the stages."""
from __future__ import annotations

import numpy as np

from workbench.representations.embeddings import import_umap, project


def _clusters(n: int = 200, dims: int = 16) -> np.ndarray:
    rng = np.random.default_rng(0)
    centres = rng.normal(scale=4.0, size=(4, dims))
    return (centres[rng.integers(0, 4, size=n)] + rng.normal(size=(n, dims))).astype(np.float32)


def test_umap_kernels_cache_to_disk_and_results_stay_seeded():
    import numba
    from numba.core.dispatcher import Dispatcher

    emb = project(_clusters(), method="umap", seed=2, cache=False, progress=False)
    umap = import_umap()
    kernels = [obj for obj in vars(umap.layouts).values() if isinstance(obj, Dispatcher)]
    assert kernels and all(type(k._cache).__name__ != "NullCache" for k in kernels)
    # the layout optimiser compiled in this process wrote its machine code to the numba cache
    from pathlib import Path

    root = Path(numba.config.CACHE_DIR)
    assert any(p.suffix == ".nbi" and "layouts" in p.name for p in root.rglob("*.nbi"))
    again = project(_clusters(), method="umap", seed=2, cache=False, progress=False)
    np.testing.assert_array_equal(again.coords, emb.coords)


def test_progress_names_the_stages(capsys):
    project(_clusters(), method="pca", cache=False, progress=True)
    err = capsys.readouterr().err
    assert "project pca" in err and "done" in err
