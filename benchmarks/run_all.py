"""Run every ``benchmarks/bench_*.py`` and merge their JSON into ``latest.json`` and ``latest.md``.

    python benchmarks/run_all.py                    # full sizes (minutes; run on a quiet machine)
    python benchmarks/run_all.py --quick            # tiny sizes: the CI smoke run
    python benchmarks/run_all.py --only asr scoring # a subset, by name
    python benchmarks/run_all.py --update-readme    # also put the table into README.md

Each script runs in its own process (so one crash or leak cannot skew the next) with
``--quick`` passed through and ``WORKBENCH_BENCH_RESULTS`` pointing at the results folder;
its log goes to ``<results>/logs/``.  A script that fails or times out is listed as such and
the others still run; the exit status is 1 when any failed.  Speeds are never gated on.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import HERE, ROOT, machine_info, results_dir, setup_env  # noqa: E402

README_START, README_END = "<!-- benchmarks:start -->", "<!-- benchmarks:end -->"


def scripts(only: list[str] | None) -> list[Path]:
    found = sorted(HERE.glob("bench_*.py"))
    if only:
        wanted = {o.removeprefix("bench_").removesuffix(".py") for o in only}
        found = [p for p in found if p.stem.removeprefix("bench_") in wanted]
    return found


def run_one(script: Path, *, quick: bool, timeout: float, results: Path) -> dict:
    logs = results / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "WORKBENCH_BENCH_RESULTS": str(results)}
    cmd = [sys.executable, str(script)] + (["--quick"] if quick else [])
    t0 = time.perf_counter()
    log = logs / f"{script.stem}.log"
    with open(log, "w") as fh:
        try:
            proc = subprocess.run(cmd, cwd=ROOT, env=env, stdout=fh, stderr=subprocess.STDOUT, timeout=timeout)
            rc, error = proc.returncode, None if proc.returncode == 0 else f"exit status {proc.returncode}"
        except subprocess.TimeoutExpired:
            rc, error = None, f"timed out after {timeout:.0f} s"
    seconds = time.perf_counter() - t0
    if error:
        tail = log.read_text(errors="replace").strip().splitlines()[-3:]
        error += ": " + " | ".join(t.strip() for t in tail)[-400:]
    status = "ok" if not error else "FAILED"
    print(f"{script.name:28s} {status:6s} {seconds:7.1f} s" + (f"  {error}" if error else ""), flush=True)
    return {"script": script.name, "rc": rc, "seconds": round(seconds, 1), "error": error, "log": str(log)}


def collect(results: Path, runs: list[dict], since: float) -> dict[str, dict]:
    """The JSON the scripts wrote in this run: in the results folder, or (for scripts that pick
    their own path) in ``benchmarks/results`` and ``benchmarks/results/quick``."""
    out: dict[str, dict] = {}
    folders = list(dict.fromkeys([results, HERE / "results", HERE / "results" / "quick"]))
    for folder in folders:
        for path in sorted(folder.glob("*.json")) if folder.is_dir() else []:
            if path.name.startswith("latest") or path.stat().st_mtime < since or path.stem in out:
                continue
            try:
                out[path.stem] = json.loads(path.read_text())
            except ValueError as exc:
                out[path.stem] = {"error": f"unreadable JSON: {exc}"}
    return out


def _fmt(v) -> str:
    if v is None:
        return "-"
    if isinstance(v, float):
        return f"{v:.4g}"
    return str(v).replace("|", "\\|").replace("\n", " ")


def to_markdown(merged: dict) -> str:
    m = merged["machine"]
    lines = [f"### Benchmarks ({'quick smoke sizes' if merged['quick'] else 'full sizes'}), {m.get('date', '')}", "",
             f"Machine: {m.get('cpu')} ({m.get('logical_cores')} logical cores, {m.get('memory_gib', '?')} GiB, "
             f"flags {' '.join(m.get('cpu_flags') or []) or '-'}), load average {m.get('load_avg_1m', '?')} at start; "
             f"torch {m.get('torch')} ({m.get('torch_threads')} threads, {m.get('torch_cpu_capability')}), "
             f"onnxruntime {m.get('onnxruntime')}, transformers {m.get('transformers')}, python {m.get('python')}"
             + (f"; GPU {m['cuda']}" if m.get("cuda") else "; no GPU") + ".", "",
             "Ratios compare with the named baseline measured in the same run on this machine.", ""]
    for run in merged["runs"]:
        if run["error"]:
            lines.append(f"- **{run['script']} failed**: {run['error']}")
    for name, blob in merged["benchmarks"].items():
        lines += ["", f"#### {name}" + (f" ({blob['seconds']} s)" if "seconds" in blob else ""), ""]
        rows = blob.get("rows")
        if not isinstance(rows, list):
            lines += ["```json", json.dumps({k: v for k, v in blob.items() if k != "machine"}, indent=1,
                                            default=str)[:4000], "```"]
            continue
        lines += ["| section | metric | value | unit | vs baseline | target | note |",
                  "|---|---|---|---|---|---|---|"]
        for r in rows:
            if not isinstance(r, dict):
                continue
            ratio = f"x{_fmt(r.get('ratio'))} vs {r.get('baseline')}" if r.get("ratio") is not None else "-"
            met = r.get("met")
            target = (f"{r['target']} ({'met' if met else 'not met'})" if r.get("target") and met is not None
                      else _fmt(r.get("target")))
            lines.append("| " + " | ".join([_fmt(r.get("section")), _fmt(r.get("metric")), _fmt(r.get("value")),
                                            _fmt(r.get("unit")), ratio, target, _fmt(r.get("note"))]) + " |")
    return "\n".join(lines) + "\n"


def targets_markdown(merged: dict) -> str:
    """The README's short form: the machine, then only the rows that carry a target."""
    head = to_markdown(merged).split("\n\n#### ")[0]
    rows = ["| benchmark | metric | value | vs baseline | target |", "|---|---|---|---|---|"]
    for name, blob in merged["benchmarks"].items():
        for r in blob.get("rows") or []:
            if not isinstance(r, dict) or not r.get("target"):
                continue
            ratio = f"x{_fmt(r.get('ratio'))} vs {r.get('baseline')}" if r.get("ratio") is not None else "-"
            met = r.get("met")
            verdict = "" if met is None else (" (met)" if met else " (**not met**)")
            rows.append(f"| {name} | {_fmt(r.get('metric'))} | {_fmt(r.get('value'))} {_fmt(r.get('unit'))} | {ratio} "
                        f"| {_fmt(r['target']).replace('|change|', 'abs. change')}{verdict} |")
    return f"{head}\n\nRows with a target; every row with its notes is in `benchmarks/results/latest.md`.\n\n" + \
        "\n".join(rows) + "\n"


def update_readme(markdown: str) -> bool:
    readme = ROOT / "README.md"
    text = readme.read_text() if readme.exists() else ""
    if README_START not in text or README_END not in text:
        print(f"README.md has no {README_START} ... {README_END} block; table not inserted")
        return False
    head, rest = text.split(README_START, 1)
    _, tail = rest.split(README_END, 1)
    readme.write_text(f"{head}{README_START}\n{markdown}\n{README_END}{tail}")
    return True


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="tiny sizes (smoke run)")
    p.add_argument("--only", nargs="*", help="benchmark names (asr, scoring, ...)")
    p.add_argument("--timeout", type=float, default=None, help="seconds per script (default 600 quick, 3600 full)")
    p.add_argument("--update-readme", action="store_true", help="write the table between the README markers")
    args = p.parse_args(argv)
    setup_env()
    results = results_dir(args.quick)
    timeout = args.timeout or (600.0 if args.quick else 3600.0)
    since = time.time() - 1
    todo = scripts(args.only)
    if not todo:
        print("no benchmarks matched", args.only)
        return 1
    runs = [run_one(s, quick=args.quick, timeout=timeout, results=results) for s in todo]
    merged = {"generated": time.strftime("%Y-%m-%d %H:%M:%S %z"), "quick": args.quick, "machine": machine_info(),
              "runs": runs, "benchmarks": collect(results, runs, since)}
    (results / "latest.json").write_text(json.dumps(merged, indent=1, default=str))
    markdown = to_markdown(merged)
    (results / "latest.md").write_text(markdown)
    print(f"wrote {results / 'latest.json'} and {results / 'latest.md'}")
    if args.update_readme and not args.quick:
        update_readme(targets_markdown(merged))
    return 1 if any(r["error"] for r in runs) else 0


if __name__ == "__main__":
    sys.exit(main())
