"""``workbench synthesize TEXT --voice V --out F.wav``: Kokoro speech, streamed to disk chunk by chunk.

Long texts (``--file``) never sit in memory as audio: each chunk is written to the WAV file
as soon as it is synthesized (soundfile), and its word timings to ``--timings`` (CSV).
The format is the one ``--out``'s suffix names (.wav, .flac, .ogg; others are refused). Both
files are written as hidden ``.NAME.<pid>.part`` files and renamed when complete; a failure,
Ctrl-C or SIGTERM removes them, and parts left by a killed (SIGKILL) run are removed next time.
"""
from __future__ import annotations

import argparse
import contextlib
import csv
import os
import signal
import sys
from pathlib import Path

from ._common import printable


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("synthesize", help="speak a text with Kokoro-82M (offline) into a WAV file")
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("text", nargs="?", help="the text to speak")
    src.add_argument("--file", type=Path, help="read the text from this UTF-8 file (streamed, any length)")
    p.add_argument("--voice", default="af_heart", help="voice name, or a blend like 'af_bella:0.7,af_sky:0.3'")
    p.add_argument("--speed", type=float, default=1.0, help="0.5 .. 2.0 (default 1.0)")
    p.add_argument("--language", default=None, help="en-us or en-gb (default: from the voice)")
    p.add_argument("--out", type=Path, required=True, help="output .wav/.flac (24 kHz, 16-bit) or .ogg (Vorbis)")
    p.add_argument("--timings", type=Path, default=None, help="write word timings (CSV) here")
    p.set_defaults(func=run)


#: output formats soundfile writes, by suffix: (format, subtype)
FORMATS = {".wav": ("WAV", "PCM_16"), ".flac": ("FLAC", "PCM_16"), ".ogg": ("OGG", "VORBIS")}


def check_outputs(out: Path, timings: Path | None) -> tuple[str, str]:
    """The (format, subtype) to write ``out`` in; an OutputError for a folder, an unknown suffix, or
    ``--timings`` naming the same file as ``--out``."""
    from ..errors import OutputError

    if out.is_dir():
        raise OutputError(printable(f"{out}: is a folder; give --out a file name such as {out / 'speech.wav'}"))
    fmt = FORMATS.get(out.suffix.lower())
    if fmt is None:
        raise OutputError(printable(f"{out}: cannot write {out.suffix or 'a file without a suffix'!r} audio; give "
                                    f"--out a {', '.join(FORMATS)} name (convert to MP3 afterwards, e.g. "
                                    "ffmpeg -i out.wav out.mp3)"))
    if out.exists() and not out.is_file():
        raise OutputError(printable(f"{out}: exists and is not a regular file; give --out a new file name"))
    if timings is not None:
        if timings.is_dir():
            raise OutputError(printable(f"{timings}: is a folder; give --timings a file name such as words.csv"))
        if timings.resolve() == out.resolve():
            raise OutputError(printable(f"--timings and --out both name {out}; the timings would overwrite the "
                                        "audio — give them different files (e.g. --timings words.csv)"))
    return fmt


def _part(path: Path) -> Path:
    return path.with_name(f".{path.name}.{os.getpid()}.part")


def _remove_stale_parts(path: Path) -> None:
    """Drop ``.NAME.<pid>.part`` files that a killed run (SIGKILL, power loss) left beside ``path``."""
    for part in path.parent.glob(f".{path.name}.*.part"):
        pid = part.name[len(path.name) + 2: -len(".part")]
        if pid.isdigit() and not _alive(int(pid)):
            part.unlink(missing_ok=True)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


@contextlib.contextmanager
def _interruptible():
    """SIGTERM/SIGHUP raise SystemExit here, so ``finally`` blocks remove partial files (SIGINT already
    raises KeyboardInterrupt)."""
    def stop(signum, frame):
        raise SystemExit(128 + signum)

    old = {}
    for sig in (signal.SIGTERM, getattr(signal, "SIGHUP", None)):
        if sig is not None:
            try:
                old[sig] = signal.signal(sig, stop)
            except ValueError:  # not the main thread: leave the handlers alone
                pass
    try:
        yield
    finally:
        for sig, handler in old.items():
            signal.signal(sig, handler)


def run(args: argparse.Namespace) -> int:
    import soundfile as sf

    from ..errors import OutputError, TextError
    from ..models.kokoro import SAMPLE_RATE
    from ..models.registry import default_registry
    from ..tts.synthesis import check_speed, check_text, resolve_voice, stream

    reg = default_registry()
    if args.file is not None:
        try:
            text = args.file.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise TextError(printable(f"{args.file}: cannot read it as UTF-8 text ({exc})")) from exc
    else:
        text = args.text
    check_text(text)
    check_speed(args.speed)
    fmt, subtype = check_outputs(args.out, args.timings)
    voice, notes = resolve_voice(args.voice, reg)  # unknown names fail here, before any file is created
    for note in notes:
        print(printable(f"note: {note}"), file=sys.stderr)
    out = args.out
    words = chunks = samples = 0
    with _interruptible():
        tmp = _part(out)
        tmp_timings = _part(args.timings) if args.timings else None
        try:
            out.parent.mkdir(parents=True, exist_ok=True)
            _remove_stale_parts(out)
            timing_fh = None
            if tmp_timings is not None:
                args.timings.parent.mkdir(parents=True, exist_ok=True)
                _remove_stale_parts(args.timings)
                timing_fh = open(tmp_timings, "w", newline="", encoding="utf-8")
            audio_fh = sf.SoundFile(str(tmp), "w", samplerate=SAMPLE_RATE, channels=1, subtype=subtype, format=fmt)
        except (OSError, sf.LibsndfileError) as exc:
            for path in (tmp, tmp_timings):
                if path is not None:
                    with contextlib.suppress(OSError):
                        path.unlink(missing_ok=True)
            raise OutputError(printable(f"cannot write {out}" + (f" / {args.timings}" if args.timings else "")
                                        + f" ({exc.__class__.__name__}: {exc}); choose a file in a writable "
                                        "folder")) from None
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
        try:
            from ..data.tables import neutralise_row

            writer = csv.writer(timing_fh) if timing_fh else None
            if writer:
                writer.writerow(["chunk", "word", "start", "end", "phonemes", "source", "flag"])
            with audio_fh:
                for chunk in stream(text, voice, speed=args.speed, language=args.language, registry=reg):
                    audio_fh.write(chunk.audio)
                    samples += len(chunk.audio)
                    chunks += 1
                    for w in chunk.words:
                        words += 1
                        if writer:
                            writer.writerow(neutralise_row([chunk.index, w.text, f"{w.start:.4f}", f"{w.end:.4f}",
                                                            w.phonemes, w.source, w.flag]))
                    print(printable(f"chunk {chunk.index}: {chunk.duration:.2f} s  {chunk.graphemes[:60]}"),
                          file=sys.stderr)
            if timing_fh:
                timing_fh.close()
            if chunks == 0:
                raise TextError(f"{text[:60]!r} has nothing Kokoro can say; check it with `workbench phonemize "
                                "--table`")
            try:
                tmp.replace(out)
                if tmp_timings is not None:
                    tmp_timings.replace(args.timings)
            except OSError as exc:
                raise OutputError(printable(f"cannot write {out} ({exc.__class__.__name__}: {exc}); choose a file "
                                            "in a writable folder")) from None
        finally:  # failure, Ctrl-C or SIGTERM: no partial file stays behind
            if timing_fh and not timing_fh.closed:
                timing_fh.close()
            for path in (tmp, tmp_timings):
                if path is not None:
                    with contextlib.suppress(OSError):
                        path.unlink(missing_ok=True)
    print(printable(f"wrote {out} ({samples / SAMPLE_RATE:.2f} s, {chunks} chunk(s), {words} words)"
                    + (f" and {args.timings}" if args.timings else "")))
    return 0
