"""Kokoro-82M speed on this machine: real-time factor and overheads, as ratios within one run.

For each text size it times (median of ``--repeats`` after one warm-up call):

* ``workbench_text``   — ``synthesize(text)``: G2P, chunking, ONNX, timings (the whole path);
* ``workbench_phon``   — ``synthesize_phonemes(phonemes)``: our single graph call on a phoneme string;
* ``bare_ort``         — a plain ``onnxruntime.InferenceSession.run`` on the original graph with the
                         same token ids and style row (the baseline);
* ``kokoro_onnx``      — ``kokoro_onnx.Kokoro.create(phonemes, is_phonemes=True, trim=False)``.

Ratios: ``overhead = workbench_phon / bare_ort`` (what the workbench adds per call: the extra
durations output, bookkeeping), ``g2p_share = (workbench_text - workbench_phon) / workbench_text``,
``vs_kokoro_onnx = workbench_phon / kokoro_onnx``, and ``rtf = workbench_text / audio seconds``.
Texts over 510 phonemes are timed on the first chunk for the phoneme-level rows.

    python benchmarks/bench_kokoro.py            # full sizes (minutes on 2 cores)
    python benchmarks/bench_kokoro.py --quick    # one short sentence, 1 repeat
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("WORKBENCH_PROGRESS", "0")

SENTENCE = "The quick brown fox jumps over the lazy dog, and the dog does not seem to mind at all."
SIZES = {
    "sentence": SENTENCE,
    "paragraph": " ".join([SENTENCE, "Then the fox runs into the forest, where the trees are tall and the light is "
                           "soft.", "Nobody knows where it goes at night, but everyone has a theory."]),
    "page": " ".join([SENTENCE] * 8),
}


def _median_time(fn, repeats: int) -> float:
    fn()  # warm-up
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def run(sizes: dict[str, str], *, voice: str, repeats: int) -> dict:
    import numpy as np
    import onnxruntime as ort

    from workbench.tts.phonemize import phonemize
    from workbench.tts.parity import kokoro_onnx_engine
    from workbench.models.registry import ModelRegistry
    from workbench.tts.synthesis import synthesize, synthesize_phonemes

    reg = ModelRegistry()
    model = reg.get("kokoro-82m")
    pack = reg.voice(voice).pack
    bare = ort.InferenceSession(str(model.path), providers=["CPUExecutionProvider"])
    engine = kokoro_onnx_engine((voice,), registry=reg)
    rows = []
    for name, text in sizes.items():
        result = synthesize(text, voice, registry=reg)
        audio_s = result.duration
        first = result.chunks[0]
        ps = first.phonemes
        ids = np.array([[0, *model.tokenize(ps), 0]], dtype=np.int64)
        feeds = {model.token_input: ids, "style": pack[min(len(ps), len(pack)) - 1].reshape(1, -1),
                 "speed": np.array([1.0], dtype=np.float32)}
        t_text = _median_time(lambda: synthesize(text, voice, registry=reg), repeats)
        t_phon = _median_time(lambda: synthesize_phonemes(ps, voice, registry=reg), repeats)
        t_bare = _median_time(lambda: bare.run(None, feeds), repeats)
        t_ko = _median_time(lambda: engine.create(ps, voice=voice, is_phonemes=True, trim=False), repeats)
        g2p = _median_time(lambda: phonemize(text, registry=reg), repeats)
        chunk_s = first.duration
        rows.append({"size": name, "chars": len(text), "phonemes": len(result.phonemes), "chunks": len(result.chunks),
                     "audio_s": round(audio_s, 3), "first_chunk_audio_s": round(chunk_s, 3),
                     "workbench_text_s": t_text, "workbench_phon_s": t_phon, "bare_ort_s": t_bare,
                     "kokoro_onnx_s": t_ko, "g2p_s": g2p, "rtf": t_text / audio_s,
                     "overhead": t_phon / t_bare, "g2p_share": g2p / t_text, "vs_kokoro_onnx": t_phon / t_ko})
    import importlib.metadata as md

    return {"benchmark": "kokoro", "voice": voice, "repeats": repeats, "rows": rows,
            "baseline": "bare onnxruntime InferenceSession.run on the same tokens and style",
            "machine": {"platform": platform.platform(), "cpus": os.cpu_count(), "python": sys.version.split()[0],
                        "onnxruntime": md.version("onnxruntime"), "kokoro-onnx": md.version("kokoro-onnx")},
            "date": time.strftime("%Y-%m-%dT%H:%M:%S%z")}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="one short sentence, one repeat")
    parser.add_argument("--voice", default="af_heart")
    parser.add_argument("--repeats", type=int, default=None)
    parser.add_argument("--out", type=Path, default=None,
                        help="JSON output (default benchmarks/results/kokoro.json; kokoro-quick.json with --quick)")
    args = parser.parse_args(argv)
    sizes = {"sentence": SENTENCE} if args.quick else SIZES
    repeats = args.repeats or (1 if args.quick else 5)
    report = run(sizes, voice=args.voice, repeats=repeats)
    report["quick"] = args.quick
    out = args.out or Path(__file__).resolve().parent / "results" / ("kokoro-quick.json" if args.quick else "kokoro.json")
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=1))
    head = f"{'size':10} {'chars':>6} {'audio s':>8} {'RTF':>6} {'overhead':>9} {'g2p share':>10} {'vs k-onnx':>10}"
    print(head)
    for r in report["rows"]:
        print(f"{r['size']:10} {r['chars']:6d} {r['audio_s']:8.2f} {r['rtf']:6.3f} {r['overhead']:9.3f} "
              f"{r['g2p_share']:10.1%} {r['vs_kokoro_onnx']:10.3f}")
    print(f"(overhead = workbench phoneme call / bare onnxruntime call on the same tokens; vs k-onnx = workbench / "
          f"kokoro-onnx create on the same phonemes; median of {repeats})  -> {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
