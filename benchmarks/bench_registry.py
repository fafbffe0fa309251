"""Registry costs: warm ``get``, cold load of each offline model, peak memory of a loaded session.

    python benchmarks/bench_registry.py [--quick]

warm get    ``registry.get(name)`` of an already loaded model (a dict lookup under a lock),
            microseconds per call over many calls.
cold load   the first ``get`` of each model available offline, in a fresh registry (torch,
            transformers and onnxruntime already imported, files in the OS page cache: this is
            the cost the registry itself adds, not the disk's).
peak RSS    a fresh Python process that imports the workbench and loads every offline model
            (and every voice pack) through one registry; its resident memory (VmRSS) and
            peak (VmHWM), next to the same process having only imported the libraries (the
            baseline).  ``--quick`` loads only a tiny checkpoint and one voice.
"""
from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import ROOT, Report, parser, setup_env  # noqa: E402

MODEL_KINDS = ("ctc", "pretraining", "tts")

SESSION = textwrap.dedent("""
    import json, sys, time
    sys.path.insert(0, {root!r})

    def mem():
        fields = dict(line.split(":", 1) for line in open("/proc/self/status") if ":" in line)
        return {{k: int(fields[k].split()[0]) for k in ("VmRSS", "VmHWM")}}

    import numpy, torch, transformers, onnxruntime  # the libraries a notebook session imports anyway
    from workbench.models.registry import ModelRegistry
    base = mem()
    reg = ModelRegistry()
    for name, path in {extra!r}:
        reg.register(name, path)
    names = [n for n in {names!r}]
    t0 = time.perf_counter()
    for n in names:
        reg.get(n)
    if {voices!r}:
        for v in reg.names("voice"):
            if reg.available_offline(v):
                reg.get(v)
    print(json.dumps({{"base": base, "after": mem(), "loaded": len(reg.loaded()), "seconds": time.perf_counter() - t0,
                      "registry_bytes": reg.loaded_bytes()}}))
""")


def main(argv: list[str] | None = None) -> int:
    args = parser(__doc__.splitlines()[0]).parse_args(argv)
    setup_env()
    import onnxruntime  # noqa: F401  (imported up front: cold loads measure the registry, not imports)
    import torch  # noqa: F401
    import transformers  # noqa: F401

    from workbench.models.registry import ModelRegistry

    report = Report("bench_registry", args.quick)
    tmp = Path(tempfile.mkdtemp(prefix="bench-registry-"))
    extra: list[tuple[str, str]] = []
    if args.quick:  # the recipe's tiny random checkpoint instead of the 95 M-parameter base architecture
        from workbench.recipe.build import new_model, save_model

        extra.append(("tiny-arch", str(save_model(new_model("ctc", seed=0), tmp / "tiny", kind="ctc"))))

    probe = ModelRegistry()
    for name, path in extra:
        probe.register(name, path)
    names = [n for n in probe.names() if probe.spec(n).kind in MODEL_KINDS and probe.available_offline(n)]
    if args.quick:  # no Kokoro either: its cold load hashes and optimises a 92 MB graph
        names = [n for n in names if n in dict(extra)]
    voices = [v for v in probe.names("voice") if probe.available_offline(v)]

    for name in names + voices[:1]:
        reg = ModelRegistry()
        for n, p in extra:
            reg.register(n, p)
        t0 = time.perf_counter()
        reg.get(name)
        cold = time.perf_counter() - t0
        calls = 2000 if args.quick else 20000
        t0 = time.perf_counter()
        for _ in range(calls):
            reg.get(name)
        warm = (time.perf_counter() - t0) / calls
        spec = reg.spec(name)
        report.add("cold load", f"{name} ({spec.kind}, {spec.source})", cold, "s", baseline="warm get",
                   ratio=cold / warm, note=f"{reg.loaded_bytes() / 1e6:.0f} MB by the registry's count")
        report.add("warm get", name, warm * 1e6, "us/call", note=f"{calls} calls")

    code = SESSION.format(root=str(ROOT), extra=extra, names=names, voices=not args.quick)
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=900)
    if proc.returncode != 0:
        report.add("memory", "peak RSS with every offline model loaded", None,
                   note="session failed: " + proc.stderr.strip().splitlines()[-1][:200])
    else:
        got = json.loads(proc.stdout.strip().splitlines()[-1])
        base, after = got["base"], got["after"]
        report.add("memory", "RSS, libraries imported only", base["VmRSS"] / 1024, "MiB",
                   note=f"numpy, torch, transformers, onnxruntime, workbench (peak so far {base['VmHWM'] / 1024:.0f} MiB)")
        report.add("memory", "resident after loading every offline model", after["VmRSS"] / 1024, "MiB",
                   baseline="libraries only", ratio=after["VmRSS"] / base["VmRSS"],
                   note=f"+{(after['VmRSS'] - base['VmRSS']) / 1024:.0f} MiB")
        report.add("memory", "peak RSS of the session (VmHWM)", after["VmHWM"] / 1024, "MiB",
                   baseline="libraries only", ratio=after["VmHWM"] / base["VmRSS"],
                   note=f"{got['loaded']} objects ({', '.join(names)}"
                        f"{' + ' + str(len(voices)) + ' voices' if not args.quick else ''}) in "
                        f"{got['seconds']:.1f} s; registry counts {got['registry_bytes'] / 1e6:.0f} MB")
    report.write()
    return 0


if __name__ == "__main__":
    sys.exit(main())
