"""The notebooks: committed without outputs, and each runs top to bottom offline (nbclient) in a
kernel of this very Python environment, with no error and nothing on stderr (a warning or a
progress bar there shows as a pink block in JupyterLab).

Each notebook is executed in a temporary copy of ``notebooks/`` (so what it writes, e.g.
``../artifacts/evaluation_report.html``, stays out of the checkout).  Wall times and the kernel's
CPU seconds (a measure that a busy machine does not inflate) go to ``artifacts/notebook-times.json``.  Set ``WORKBENCH_NOTEBOOK_TIMEOUT`` to change the per-cell limit.
"""
from __future__ import annotations

import json
import os
import shutil
import sys
import time
from pathlib import Path

import nbformat
import pytest

from conftest import ROOT, requires_kokoro_assets, requires_trained

NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))
CELL_TIMEOUT = int(os.environ.get("WORKBENCH_NOTEBOOK_TIMEOUT", "600"))
_PROBE = "import sys as _wb_sys; print('WB-KERNEL-PYTHON=' + _wb_sys.executable)"
_CPU = ("import resource as _wb_r; _u = _wb_r.getrusage(_wb_r.RUSAGE_SELF); "
        "print('WB-KERNEL-CPU=%.1f' % (_u.ru_utime + _u.ru_stime))")


def test_the_notebooks_are_there():
    names = {p.name for p in NOTEBOOKS}
    assert {"01_tour.ipynb", "02_evaluation_report.ipynb", "03_teaching_ctc.ipynb",
            "04_teaching_representations.ipynb", "05_tts_inspection.ipynb"} <= names


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.name for p in NOTEBOOKS])
def test_committed_without_outputs(path):
    nb = nbformat.read(path, as_version=4)
    nbformat.validate(nb)
    dirty = [i for i, c in enumerate(nb.cells) if c.cell_type == "code" and (c.outputs or c.execution_count)]
    assert not dirty, (f"{path.name}: code cells {dirty} have outputs or execution counts; clear them before "
                       f"committing (`jupyter nbconvert --clear-output --inplace {path.relative_to(ROOT)}`)")


@pytest.mark.parametrize("path", [p for p in NOTEBOOKS if p.name[:2].isdigit()], ids=lambda p: p.name)
def test_one_marked_real_hub_models_cell(path):
    nb = nbformat.read(path, as_version=4)
    marked = [c for c in nb.cells if c.cell_type == "code" and "# ===== Real hub models =====" in c.source]
    assert len(marked) == 1, f"{path.name}: expected one cell marked '# ===== Real hub models ====='"
    assert "available_offline" in marked[0].source


def run_notebook(path: Path, workdir: Path) -> tuple[nbformat.NotebookNode, dict, str]:
    """Execute a copy of ``path`` in ``workdir``; returns the executed notebook, its wall and kernel CPU
    seconds, and the kernel's python."""
    from nbclient import NotebookClient

    nb = nbformat.read(path, as_version=4)
    nb.cells.insert(0, nbformat.v4.new_code_cell(_PROBE))
    nb.cells.append(nbformat.v4.new_code_cell(_CPU))
    client = NotebookClient(nb, timeout=CELL_TIMEOUT, kernel_name="python3",
                            resources={"metadata": {"path": str(workdir)}})
    t0 = time.perf_counter()
    client.execute()
    seconds = time.perf_counter() - t0
    probe = "".join(o.get("text", "") for o in nb.cells[0].outputs)
    cpu = "".join(o.get("text", "") for o in nb.cells[-1].outputs).split("WB-KERNEL-CPU=", 1)[-1].strip()
    return nb, {"wall_s": round(seconds, 1), "kernel_cpu_s": float(cpu)}, probe.split("WB-KERNEL-PYTHON=", 1)[-1].strip()


@pytest.fixture(scope="module")
def workdir(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("nb")
    shutil.copytree(ROOT / "notebooks", root / "notebooks")
    return root / "notebooks"


@pytest.fixture(scope="module")
def times():
    data: dict[str, dict] = {}
    yield data
    if data:
        out = ROOT / "artifacts"
        out.mkdir(exist_ok=True)
        total = {k: round(sum(d[k] for d in data.values()), 1) for k in ("wall_s", "kernel_cpu_s")}
        (out / "notebook-times.json").write_text(json.dumps({"notebooks": data, "total": total,
                                                             "cpus": os.cpu_count()}, indent=2))


@requires_trained
@requires_kokoro_assets
@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.name for p in NOTEBOOKS])
def test_notebook_runs_top_to_bottom(path, workdir, times):
    nb, seconds, python = run_notebook(workdir / path.name, workdir)
    times[path.name] = seconds
    assert Path(python).resolve() == Path(sys.executable).resolve(), (
        f"the notebook kernel ran {python}, not this environment's {sys.executable}; a 'python3' kernelspec "
        "elsewhere shadows it (run `python -m ipykernel install --sys-prefix`)")
    errors = [o for c in nb.cells if c.cell_type == "code" for o in c.outputs if o.get("output_type") == "error"]
    assert not errors
    stderr = [(i, o.get("text", "")[:300]) for i, c in enumerate(nb.cells) if c.cell_type == "code"
              for o in c.outputs if o.get("output_type") == "stream" and o.get("name") == "stderr"]
    assert not stderr, f"{path.name}: cells wrote to stderr (warnings or progress bars show as pink blocks): {stderr}"
    if path.name == "02_evaluation_report.ipynb":
        report = workdir.parent / "artifacts" / "evaluation_report.html"
        doc = report.read_text()
        assert "<h2>Systems</h2>" in doc and "w2v2-tiny-ctc@int8" in doc and "<script" not in doc
