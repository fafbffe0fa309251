"""``workbench synthesize TEXT --voice V --out F.wav``: Kokoro speech, streamed to disk chunk by chunk.

Long texts (``--file``) never sit in memory as audio: each chunk is written to the WAV file
as soon as it is synthesized (soundfile), and its word timings to ``--timings`` (CSV).
"""
from __future__ import annotations

import argparse
import csv
import sys
from pathlib import Path


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("synthesize", help="speak a text with Kokoro-82M (offline) into a WAV file")
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("text", nargs="?", help="the text to speak")
    src.add_argument("--file", type=Path, help="read the text from this UTF-8 file (streamed, any length)")
    p.add_argument("--voice", default="af_heart", help="voice name, or a blend like 'af_bella:0.7,af_sky:0.3'")
    p.add_argument("--speed", type=float, default=1.0, help="0.5 .. 2.0 (default 1.0)")
    p.add_argument("--language", default=None, help="en-us or en-gb (default: from the voice)")
    p.add_argument("--out", type=Path, required=True, help="output .wav (24 kHz, 16-bit)")
    p.add_argument("--timings", type=Path, default=None, help="write word timings (CSV) here")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    import soundfile as sf

    from ..errors import TextError
    from ..models.kokoro import SAMPLE_RATE
    from ..models.registry import default_registry
    from ..tts.synthesis import check_speed, check_text, resolve_voice, stream

    reg = default_registry()
    if args.file is not None:
        try:
            text = args.file.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise TextError(f"{args.file}: cannot read it as UTF-8 text ({exc})") from exc
    else:
        text = args.text
    check_text(text)
    check_speed(args.speed)
    voice, notes = resolve_voice(args.voice, reg)  # unknown names fail here, before any file is created
    for note in notes:
        print(f"note: {note}", file=sys.stderr)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    tmp = args.out.with_name(f".{args.out.name}.part")
    words = 0
    chunks = 0
    samples = 0
    timing_fh = open(args.timings, "w", newline="", encoding="utf-8") if args.timings else None
    try:
        writer = csv.writer(timing_fh) if timing_fh else None
        if writer:
            writer.writerow(["chunk", "word", "start", "end", "phonemes", "source", "flag"])
        with sf.SoundFile(str(tmp), "w", samplerate=SAMPLE_RATE, channels=1, subtype="PCM_16", format="WAV") as out:
            for chunk in stream(text, voice, speed=args.speed, language=args.language, registry=reg):
                out.write(chunk.audio)
                samples += len(chunk.audio)
                chunks += 1
                for w in chunk.words:
                    words += 1
                    if writer:
                        writer.writerow([chunk.index, w.text, f"{w.start:.4f}", f"{w.end:.4f}", w.phonemes, w.source,
                                         w.flag])
                print(f"chunk {chunk.index}: {chunk.duration:.2f} s  {chunk.graphemes[:60]}", file=sys.stderr)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    finally:
        if timing_fh:
            timing_fh.close()
    if chunks == 0:
        tmp.unlink(missing_ok=True)
        raise TextError(f"{text[:60]!r} has nothing Kokoro can say; check it with `workbench phonemize --table`")
    tmp.replace(args.out)
    print(f"wrote {args.out} ({samples / SAMPLE_RATE:.2f} s, {chunks} chunk(s), {words} words)"
          + (f" and {args.timings}" if args.timings else ""))
    return 0
