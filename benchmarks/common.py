"""Shared helpers for the ``bench_*.py`` scripts: machine facts, timing, and the JSON report.

Every benchmark writes ``<results>/<script stem>.json`` (``<results>`` is
``$WORKBENCH_BENCH_RESULTS``, default ``benchmarks/results``, ``benchmarks/results/quick``
for ``--quick``) holding the machine facts and a
list of rows; ``run_all.py`` merges them into ``latest.json`` / ``latest.md``.  A row is a
measured number, optionally with the named baseline it was compared with in the same run,
the ratio, and the issue's target (``met`` is True/False, or None when there is no target).
Speed is only ever reported as measured here, on this machine, in this run.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
if str(ROOT) not in sys.path:  # run as a script from anywhere: import the package from the checkout
    sys.path.insert(0, str(ROOT))


def results_dir(quick: bool = False) -> Path:
    """Where JSON goes: ``$WORKBENCH_BENCH_RESULTS``, else ``benchmarks/results`` (``results/quick`` for
    ``--quick`` runs, so a smoke run never overwrites the real numbers)."""
    env = os.environ.get("WORKBENCH_BENCH_RESULTS")
    path = Path(env) if env else HERE / "results" / ("quick" if quick else "")
    path.mkdir(parents=True, exist_ok=True)
    return path


def setup_env() -> None:
    """Offline, no progress bars, the shared assets next to the checkout when not set."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("WORKBENCH_PROGRESS", "0")
    if not os.environ.get("WORKBENCH_ASSET_PATH"):
        guess = ROOT.parent / "shared" / "assets"
        if guess.exists():
            os.environ["WORKBENCH_ASSET_PATH"] = str(guess)


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _cpu_flags() -> list[str]:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("flags"):
                have = set(line.split(":", 1)[1].split())
                return sorted(f for f in ("avx2", "fma", "avx512f", "avx512_bf16", "avx512_vnni", "avx_vnni",
                                          "amx_bf16", "amx_int8") if f in have)
    except OSError:
        pass
    return []


def cpu_has_native_bf16() -> bool:
    return any(f in _cpu_flags() for f in ("avx512_bf16", "amx_bf16"))


def machine_info() -> dict:
    """What the numbers came from: CPU, cores, load, library versions, GPU if any."""
    info = {
        "cpu": _cpu_model(), "cpu_flags": _cpu_flags(), "logical_cores": os.cpu_count(),
        "python": platform.python_version(), "platform": platform.platform(),
        "date": time.strftime("%Y-%m-%d %H:%M:%S %z"),
    }
    try:
        info["load_avg_1m"] = round(os.getloadavg()[0], 2)
    except OSError:
        pass
    try:
        mem = Path("/proc/meminfo").read_text().splitlines()[0].split()
        info["memory_gib"] = round(int(mem[1]) / 1024**2, 1)
    except (OSError, IndexError, ValueError):
        pass
    for mod in ("torch", "onnxruntime", "transformers", "numpy", "jiwer"):
        try:
            info[mod] = __import__(mod).__version__
        except Exception:
            info[mod] = None
    try:
        import torch

        info["torch_threads"] = torch.get_num_threads()
        info["torch_cpu_capability"] = torch.backends.cpu.get_cpu_capability()
        info["cuda"] = torch.cuda.get_device_name(0) if torch.cuda.is_available() else None
    except Exception:
        pass
    return info


def timeit(fn: Callable[[], object], *, repeat: int = 3, warmup: int = 1) -> dict:
    """Wall seconds of ``fn``: best and median of ``repeat`` runs after ``warmup`` runs."""
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return {"best": min(times), "median": statistics.median(times), "runs": len(times)}


@dataclass
class Row:
    section: str
    metric: str
    value: float | str | None
    unit: str = ""
    baseline: str | None = None
    ratio: float | None = None
    target: str | None = None
    met: bool | None = None
    note: str = ""


@dataclass
class Report:
    """The rows of one benchmark script, written as JSON and printed as a table."""

    name: str
    quick: bool
    rows: list[Row] = field(default_factory=list)
    extra: dict = field(default_factory=dict)
    started: float = field(default_factory=time.time)

    def add(self, section: str, metric: str, value, unit: str = "", **kw) -> Row:
        row = Row(section, metric, _round(value), unit, **{k: _round(v) if k == "ratio" else v for k, v in kw.items()})
        self.rows.append(row)
        print(f"  [{section}] {metric}: {row.value} {unit}"
              + (f"  (x{row.ratio} vs {row.baseline})" if row.ratio is not None else "")
              + (f"  target {row.target}: {'met' if row.met else 'NOT met' if row.met is False else '-'}"
                 if row.target else "") + (f"  -- {row.note}" if row.note else ""), flush=True)
        return row

    def write(self) -> Path:
        path = results_dir(self.quick) / f"{self.name}.json"
        blob = {"benchmark": self.name, "quick": self.quick, "machine": machine_info(),
                "seconds": round(time.time() - self.started, 1), "rows": [asdict(r) for r in self.rows],
                **self.extra}
        tmp = path.with_suffix(".json.tmp")
        tmp.write_text(json.dumps(blob, indent=1, default=str))
        os.replace(tmp, path)
        print(f"wrote {path}")
        return path


def _round(v):
    if isinstance(v, float):
        return float(f"{v:.4g}")
    return v


def parser(description: str) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=description)
    p.add_argument("--quick", action="store_true", help="tiny sizes: a smoke run of every code path in seconds")
    p.add_argument("--threads", type=int, default=None, help="torch.set_num_threads (default: torch's own)")
    return p
