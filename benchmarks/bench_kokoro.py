"""Kokoro-82M speed on this machine, as ratios against baselines measured in the same run.

Synthesis (per text size; candidates and baselines interleaved round by round, medians):

* ``synthesize(text)`` (G2P, chunking, ONNX, timings) against real time: x real time =
  audio seconds / wall seconds (the issue's target: >= 3x on a sentence);
* ``synthesize_phonemes`` against ``kokoro_onnx.Kokoro.create(phonemes, is_phonemes=True,
  trim=False)`` on the same phonemes (target >= 1.7x), with the max abs difference of the audio;
* ``synthesize_phonemes`` against a bare ``onnxruntime`` call on the original graph (overhead).

Streaming: time to first audio of a 2,000-character text through ``stream()`` (target <= 1.5 s),
against the first chunk of Kokoro's own chunking (``first_chunk=None``) in the same run.

Profile: one ONNX Runtime profiler run on the sentence: kernel time per op type and the
arithmetic rate of the ``ConvInteger`` nodes (GOP/s, counting 2 ops per multiply-add), which says
where the time goes and how far a kernel swap could take it.

The machine may be shared: the load average is recorded, wall and process CPU seconds are both
given, and every comparison is between runs interleaved in the same loop.

    python benchmarks/bench_kokoro.py            # full sizes (minutes on 2 cores)
    python benchmarks/bench_kokoro.py --quick    # one sentence, one repeat, a 300-character stream
"""
from __future__ import annotations

import collections
import json
import os
import statistics
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from common import Report, parser, setup_env  # noqa: E402

SENTENCE = "The quick brown fox jumps over the lazy dog, and the dog does not seem to mind at all."
SIZES = {
    "sentence": SENTENCE,
    "paragraph": " ".join([SENTENCE, "Then the fox runs into the forest, where the trees are tall and the light is "
                           "soft.", "Nobody knows where it goes at night, but everyone has a theory."]),
}
STREAM_TEXT = (  # public-domain prose (Alice's Adventures in Wonderland), cut to 2,000 characters
    "Alice was beginning to get very tired of sitting by her sister on the bank, and of having nothing to do: "
    "once or twice she had peeped into the book her sister was reading, but it had no pictures or conversations "
    "in it, and what is the use of a book, thought Alice, without pictures or conversations? So she was "
    "considering in her own mind (as well as she could, for the hot day made her feel very sleepy and stupid), "
    "whether the pleasure of making a daisy-chain would be worth the trouble of getting up and picking the "
    "daisies, when suddenly a White Rabbit with pink eyes ran close by her. ") * 4


def interleaved(fns: dict, repeats: int) -> dict[str, dict]:
    """Median wall and process-CPU seconds of each function, run round by round (one warm-up call
    each; the order rotates every round so no candidate always runs after the same one)."""
    for fn in fns.values():
        fn()
    names = list(fns)
    wall = {k: [] for k in names}
    cpu = {k: [] for k in names}
    for r in range(repeats):
        for k in names[r % len(names):] + names[:r % len(names)]:
            t0, c0 = time.perf_counter(), time.process_time()
            fns[k]()
            wall[k].append(time.perf_counter() - t0)
            cpu[k].append(time.process_time() - c0)
    return {k: {"wall": statistics.median(wall[k]), "cpu": statistics.median(cpu[k])} for k in names}


def bench_synthesis(report: Report, reg, voice: str, sizes: dict[str, str], repeats: int) -> None:
    import numpy as np
    import onnxruntime as ort

    from workbench.tts.parity import kokoro_onnx_engine
    from workbench.tts.synthesis import synthesize, synthesize_phonemes

    model = reg.get("kokoro-82m")
    pack = reg.voice(voice).pack
    bare = ort.InferenceSession(str(model.path), providers=["CPUExecutionProvider"])
    engine = kokoro_onnx_engine((voice,), registry=reg)
    for name, text in sizes.items():
        result = synthesize(text, voice, registry=reg)
        ps = result.chunks[0].phonemes
        ids = np.array([[0, *model.tokenize(ps), 0]], dtype=np.int64)
        feeds = {model.token_input: ids, "style": pack[min(len(ps), len(pack)) - 1].reshape(1, -1),
                 "speed": np.array([1.0], dtype=np.float32)}
        ours, _ = synthesize_phonemes(ps, voice, registry=reg)
        theirs, _ = engine.create(ps, voice=voice, is_phonemes=True, trim=False)
        t = interleaved({"text": lambda text=text: synthesize(text, voice, registry=reg),
                         "phon": lambda ps=ps: synthesize_phonemes(ps, voice, registry=reg),
                         "bare": lambda feeds=feeds: bare.run(None, feeds),
                         "kokoro_onnx": lambda ps=ps: engine.create(ps, voice=voice, is_phonemes=True, trim=False)},
                        repeats)
        audio_s, chunk_s = result.duration, result.chunks[0].duration
        what = f"{name} ({len(text)} chars, {audio_s:.1f} s audio)"
        rt = audio_s / t["text"]["wall"]
        report.add("synthesis", f"synthesize(text), {what}", rt, "x real time", baseline="real time", ratio=rt,
                   target=">= 3x real time" if name == "sentence" else None, met=rt >= 3 if name == "sentence" else None,
                   note=f"{t['text']['wall']:.2f} s wall, {t['text']['cpu']:.2f} s process CPU")
        speedup = t["kokoro_onnx"]["wall"] / t["phon"]["wall"]
        report.add("synthesis", f"synthesize_phonemes vs kokoro-onnx, {name} ({chunk_s:.1f} s audio)", speedup,
                   "x faster", baseline="kokoro-onnx create(is_phonemes, trim=False)", ratio=speedup,
                   target=">= 1.7x" if name == "sentence" else None, met=speedup >= 1.7 if name == "sentence" else None,
                   note=f"ours {t['phon']['wall']:.2f} s, kokoro-onnx {t['kokoro_onnx']['wall']:.2f} s wall; "
                        f"CPU {t['phon']['cpu']:.2f} vs {t['kokoro_onnx']['cpu']:.2f} s")
        same = len(ours) == len(theirs)
        diff = float(np.max(np.abs(ours - theirs))) if same else float("nan")
        report.add("synthesis", f"audio max |ours - kokoro-onnx|, {name}", diff, "", baseline="kokoro-onnx",
                   note="same length" if same else f"lengths differ: {len(ours)} vs {len(theirs)}")
        report.add("synthesis", f"overhead over a bare onnxruntime call, {name}", t["phon"]["wall"] / t["bare"]["wall"],
                   "x", baseline="bare InferenceSession.run, same tokens and style",
                   ratio=t["phon"]["wall"] / t["bare"]["wall"], note="the durations output and bookkeeping")


def bench_stream(report: Report, reg, voice: str, text: str, repeats: int) -> None:
    from workbench.tts.synthesis import FIRST_CHUNK, stream

    def first(first_chunk):
        chunks = stream(text, voice, registry=reg, first_chunk=first_chunk)
        chunk = next(chunks)
        chunks.close()
        return chunk

    short, kokoro = first(FIRST_CHUNK), first(None)
    t = interleaved({"stream": lambda: first(FIRST_CHUNK), "kokoro_chunks": lambda: first(None)}, repeats)
    ttfa = t["stream"]["wall"]
    report.add("streaming", f"time to first audio, {len(text):,}-character text", ttfa, "s",
               baseline="first chunk with Kokoro's chunking (first_chunk=None)",
               ratio=ttfa / t["kokoro_chunks"]["wall"], target="<= 1.5 s", met=ttfa <= 1.5,
               note=f"first chunk {len(short.phonemes)} phonemes / {short.duration:.1f} s audio "
                    f"(Kokoro's: {len(kokoro.phonemes)} / {kokoro.duration:.1f} s, {t['kokoro_chunks']['wall']:.2f} s); "
                    f"{t['stream']['cpu']:.2f} s process CPU")


def bench_profile(report: Report, reg, voice: str, text: str) -> None:
    """Where the time of one graph call goes (ONNX Runtime's profiler), and the ConvInteger rate."""
    import numpy as np
    import onnx
    import onnxruntime as ort

    from workbench.tts.synthesis import synthesize

    model = reg.get("kokoro-82m")
    ps = synthesize(text, voice, registry=reg).chunks[0].phonemes
    pack = reg.voice(voice).pack
    feeds = {model.token_input: np.array([[0, *model.tokenize(ps), 0]], dtype=np.int64),
             "style": pack[len(ps) - 1].reshape(1, -1), "speed": np.array([1.0], dtype=np.float32)}
    opts = ort.SessionOptions()
    opts.enable_profiling = True
    opts.profile_file_prefix = os.path.join(tempfile.mkdtemp(prefix="wb-kokoro-prof-"), "ort")
    session = ort.InferenceSession(str(model.path), opts, providers=["CPUExecutionProvider"])
    audio = session.run(None, feeds)[0]
    session.run(None, feeds)
    with open(session.end_profiling()) as fh:
        events = json.load(fh)
    start = [e for e in events if e.get("name") == "model_run"][-1]["ts"]  # the second (warm) run only
    per_op, per_node, shapes = collections.Counter(), collections.Counter(), {}
    for e in events:
        if e.get("cat") == "Node" and e["name"].endswith("_kernel_time") and e["ts"] >= start:
            per_op[e["args"].get("op_name")] += e["dur"]
            per_node[e["name"][:-len("_kernel_time")]] += e["dur"]
            shapes[e["name"][:-len("_kernel_time")]] = e["args"].get("input_type_shape")
    total = sum(per_op.values())
    graph = onnx.load(str(model.path), load_external_data=False).graph
    dims = {i.name: list(i.dims) for i in graph.initializer}
    ops = conv_us = 0
    for node in graph.node:
        if node.op_type == "ConvInteger" and node.name in per_node:
            w = dims[node.input[1]]
            length = next(iter(shapes[node.name][0].values()))[-1]
            stride = next((a.ints[0] for a in node.attribute if a.name == "strides"), 1)
            ops += 2 * w[0] * w[1] * w[2] * (length // stride)
            conv_us += per_node[node.name]
    audio_s = audio.size / 24_000
    report.add("profile", f"kernel time of one warm call ({audio_s:.1f} s audio)", total / 1e6, "s",
               note=f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
    for op, us in per_op.most_common(6):
        report.add("profile", f"share of kernel time: {op}", us / total, "")
    report.add("profile", "ConvInteger work per second of audio", ops / 1e9 / audio_s, "GOP/s-audio",
               note=f"{ops / 1e9:.0f} GOP (2 per multiply-add) in {graph_count(graph, 'ConvInteger')} nodes")
    report.add("profile", "ConvInteger rate", ops / 1e9 / (conv_us / 1e6), "GOP/s",
               note="wall kernel time; compare with the machine's fp32 matmul peak (bench_asr)")


def graph_count(graph, op_type: str) -> int:
    return sum(1 for n in graph.node if n.op_type == op_type)


def main(argv: list[str] | None = None) -> int:
    p = parser(__doc__.split("\n")[0])
    p.add_argument("--voice", default="af_heart")
    p.add_argument("--repeats", type=int, default=None)
    args = p.parse_args(argv)
    setup_env()
    from workbench.models.registry import ModelRegistry

    repeats = args.repeats or (1 if args.quick else 3)
    report = Report("kokoro", args.quick)
    report.extra["load_avg_start"] = os.getloadavg()[0]
    reg = ModelRegistry()
    bench_synthesis(report, reg, args.voice, {"sentence": SENTENCE} if args.quick else SIZES, repeats)
    bench_stream(report, reg, args.voice, STREAM_TEXT[:300] if args.quick else STREAM_TEXT[:2000], repeats)
    bench_profile(report, reg, args.voice, SENTENCE)
    report.extra["load_avg_end"] = os.getloadavg()[0]
    report.write()
    return 0


if __name__ == "__main__":
    sys.exit(main())
