"""Smoke run of every benchmark at tiny sizes (``run_all.py --quick``): the scripts run and write
their JSON and the merged table.  Speed is never asserted here."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_run_all_quick_writes_merged_results(tmp_path):
    env = {**os.environ, "WORKBENCH_BENCH_RESULTS": str(tmp_path), "WORKBENCH_PROGRESS": "0"}
    proc = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "run_all.py"), "--quick"], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=1200)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    merged = json.loads((tmp_path / "latest.json").read_text())
    scripts = sorted(p.name for p in (ROOT / "benchmarks").glob("bench_*.py"))
    assert [r["script"] for r in merged["runs"]] == scripts
    assert merged["quick"] is True and merged["machine"]["logical_cores"] >= 1
    asr = merged["benchmarks"]["bench_asr"]
    metrics = {r["metric"]: r for r in asr["rows"]}
    assert metrics["fp32 matmul peak (torch.mm)"]["value"] > 0
    # the FLOP formula agrees with torch's own counter on the layers it can see
    assert abs(metrics["FLOP count check (1 s clip)"]["value"] - 1.0) < 0.01
    # the engine's transcripts are the pipeline's on one-clip-per-call (the same computation), and the
    # default (exact) path's too
    assert "identical transcripts: 100%" in metrics["engine, one clip per call (eager torch)"]["note"]
    assert "identical transcripts: 100%" in metrics["engine default: one clip per call, cached ONNX fp32"]["note"]
    assert metrics["onnx fp32 speed"]["ratio"] > 0 and "identical transcripts 100%" in metrics["onnx fp32 speed"]["note"]
    scoring = {r["metric"]: r for r in merged["benchmarks"]["bench_scoring"]["rows"]}
    assert any("equals jiwer's" in (r["note"] or "") for r in scoring.values())
    table = (tmp_path / "latest.md").read_text()
    assert "| section | metric | value |" in table and "#### bench_asr" in table and "Machine:" in table
