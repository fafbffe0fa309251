"""Peak memory of a one-hour recording through transcription and forced alignment.

    python benchmarks/bench_memory.py [--quick] [--minutes M] [--beam B]

A fresh Python process (so nothing else inflates its peak) loads a small random wav2vec2
CTC model (the recipe's tiny architecture, the one the tests use), reads one long FLAC made
by concatenating the kokoro-eval utterances until it lasts an hour (``--quick``: 5 minutes),
then runs ``engine.analyze`` on it (chunked: 30-s windows with 5-s strides) and
``alignment.forced_align`` of the concatenated reference text against the emissions.
The peak resident memory (Linux ``VmHWM``, reset between stages through
``/proc/self/clear_refs``) is recorded per stage, next to the resident memory after the
model was loaded (the baseline) and the size of the decoded audio itself.
Target (full run): the whole process peaks under 2 GiB for one hour of 16 kHz audio.
"""
from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import ROOT, Report, parser, setup_env  # noqa: E402

TARGET_MIB = 2048

CHILD = textwrap.dedent("""
    import json, sys, time
    sys.path.insert(0, {root!r})
    import torch
    if {threads!r}:
        torch.set_num_threads({threads!r})

    def status():
        fields = dict(line.split(":", 1) for line in open("/proc/self/status") if ":" in line)
        return {{k: int(fields[k].split()[0]) / 1024 for k in ("VmRSS", "VmHWM")}}

    def reset_peak():
        try:
            with open("/proc/self/clear_refs", "w") as fh:
                fh.write("5")  # resets VmHWM to the current RSS (Linux >= 4.0)
            return True
        except OSError:
            return False

    from workbench.asr.alignment import forced_align
    from workbench.asr.engine import analyze
    from workbench.models.registry import ModelRegistry

    reg = ModelRegistry()
    reg.register("tiny-random", {model!r})
    reg.get("tiny-random")
    text = open({text!r}, encoding="utf-8").read()
    out = {{"base": status(), "stages": {{}}}}
    out["can_reset"] = reset_peak()
    t0 = time.perf_counter()
    a = analyze({audio!r}, "tiny-random", registry=reg, cache=False, progress=False)[0]
    assert a.ok, a.error
    out["stages"]["analyze"] = {{**status(), "seconds": time.perf_counter() - t0, "frames": a.num_frames,
                                 "samples": a.num_samples, "chunked": a.chunked}}
    reset_peak()
    t0 = time.perf_counter()
    fa = forced_align(a, text, drop_unknown=True, beam={beam!r})
    out["stages"]["forced_align"] = {{**status(), "seconds": time.perf_counter() - t0, "words": len(fa.words),
                                      "stats": fa.stats}}
    # clear_refs also resets ru_maxrss, so the process peak is the largest of the stage peaks
    out["peak_mib"] = max([out["base"]["VmHWM"]] + [st["VmHWM"] for st in out["stages"].values()])
    print(json.dumps(out, default=str))
""")


def make_recording(folder: Path, minutes: float) -> tuple[Path, Path, int]:
    """One FLAC of the kokoro-eval utterances end to end (repeated), and its reference text."""
    import soundfile as sf

    from workbench.data.corpus import Corpus

    corpus = Corpus.load(ROOT / "datasets" / "kokoro-eval" / "manifest.jsonl")
    want = int(minutes * 60 * 16000)
    audio_path, text_path = folder / "long.flac", folder / "long.txt"
    texts, total = [], 0
    with sf.SoundFile(str(audio_path), "w", samplerate=16000, channels=1, format="FLAC") as out:
        while total < want:
            for utt in corpus:
                full = utt.load(16000)
                wav = full[: want - total]
                out.write(wav)
                total += len(wav)
                if len(wav) == len(full):  # the text of a cut-off last utterance is left out
                    texts.append(utt.text)
                if total >= want:
                    break
    text_path.write_text(" ".join(texts), encoding="utf-8")
    return audio_path, text_path, total


def main(argv: list[str] | None = None) -> int:
    p = parser(__doc__.splitlines()[0])
    p.add_argument("--minutes", type=float, default=None, help="length of the recording (default 60, quick 5)")
    p.add_argument("--beam", type=float, default=None, help="forced-alignment beam in nats (default: exact)")
    args = p.parse_args(argv)
    setup_env()
    minutes = args.minutes or (5.0 if args.quick else 60.0)
    report = Report("bench_memory", args.quick)
    import tempfile

    from workbench.recipe.build import new_model, save_model

    tmp = Path(tempfile.mkdtemp(prefix="bench-memory-"))
    audio, text, samples = make_recording(tmp, minutes)
    model = save_model(new_model("ctc", seed=0), tmp / "tiny", kind="ctc")
    code = CHILD.format(root=str(ROOT), model=str(model), audio=str(audio), text=str(text), beam=args.beam,
                        threads=args.threads)
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=3600)
    if proc.returncode != 0:
        report.add("memory", f"{minutes:g}-minute recording", None,
                   note="child failed: " + (proc.stderr.strip().splitlines() or ["?"])[-1][:300])
        report.write()
        return 1
    got = json.loads(proc.stdout.strip().splitlines()[-1])
    base = got["base"]["VmRSS"]
    audio_mib = samples * 4 / 2**20
    text_chars = len(text.read_text(encoding="utf-8"))
    label = f"{minutes:g} min of 16 kHz audio"
    report.add(label, "resident after imports + model load (baseline)", base, "MiB",
               note=f"decoded audio alone is {audio_mib:.0f} MiB float32; text {text_chars} chars")
    an = got["stages"]["analyze"]
    report.add(label, "peak during transcription (engine.analyze, chunked)", an["VmHWM"], "MiB",
               baseline="baseline RSS", ratio=an["VmHWM"] / base,
               note=f"+{an['VmHWM'] - base:.0f} MiB over the baseline (the audio, its hash, one 30-s window's "
                    f"activations); {an['frames']} frames in {an['seconds']:.1f} s")
    fa = got["stages"]["forced_align"]
    report.add(label, "peak during forced alignment (exact Viterbi)" if args.beam is None
               else f"peak during forced alignment (beam {args.beam:g})", fa["VmHWM"], "MiB",
               baseline="baseline RSS", ratio=fa["VmHWM"] / base,
               note=f"{fa['words']} words in {fa['seconds']:.1f} s; {json.dumps(fa.get('stats'))}")
    whole = got["peak_mib"]
    report.add(label, "peak of the whole process (VmHWM)", whole, "MiB",
               target=None if args.quick else f"< {TARGET_MIB} MiB for 60 min",
               met=None if args.quick else whole < TARGET_MIB,
               note="imports, model, transcription and alignment (the recording is made by the parent)"
                    + ("" if got["can_reset"] else "; VmHWM could not be reset: stage peaks are cumulative"))
    report.extra["memory"] = got
    report.write()
    return 0


if __name__ == "__main__":
    sys.exit(main())
