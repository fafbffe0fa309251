"""Corpora: tables of utterances, loaded from LibriSpeech folders, JSONL/CSV manifests or folders.

A bad row (missing audio, unreadable line, duplicate id) is recorded in ``Corpus.problems``
and skipped; it never stops the load.  Paths in manifests resolve relative to the manifest.
"""
from __future__ import annotations

import csv
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator

import numpy as np

from ..errors import CorpusError, WorkbenchError

AUDIO_EXTS = (".wav", ".flac", ".ogg", ".mp3", ".opus", ".m4a", ".aiff", ".aif")


@dataclass
class Utterance:
    """One utterance: an id, audio (a path or an in-memory array) and optional reference text."""

    id: str
    audio: str | None = None
    text: str | None = None
    speaker: str | None = None
    duration: float | None = None
    array: np.ndarray | None = field(default=None, repr=False)
    sample_rate: int | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def load(self, sample_rate: int = 16_000) -> np.ndarray:
        """Mono float32 audio at ``sample_rate``."""
        from .audio import load_audio

        if self.array is not None:
            return load_audio(self.array, sample_rate=sample_rate, source_rate=self.sample_rate or sample_rate,
                              name=self.id)
        if self.audio is None:
            raise CorpusError(f"utterance {self.id!r} has neither an audio path nor an array")
        return load_audio(self.audio, sample_rate=sample_rate)


@dataclass
class Problem:
    """A row that could not be used, and why."""

    source: str
    row: str
    reason: str
    id: str | None = None  # the row's utterance id, when it could be read


class Corpus:
    """An ordered collection of utterances with the problems met while loading."""

    def __init__(self, utterances: list[Utterance] | None = None, *, name: str = "corpus",
                 source: str | None = None, problems: list[Problem] | None = None) -> None:
        self.utterances: list[Utterance] = []
        self.problems: list[Problem] = list(problems or [])
        self.name = name
        self.source = source
        seen: set[str] = set()
        for utt in utterances or []:
            if utt.id in seen:
                self.problems.append(Problem(source or name, utt.id, f"duplicate id {utt.id!r}; kept the first",
                                             id=utt.id))
                continue
            seen.add(utt.id)
            self.utterances.append(utt)

    # ------------------------------------------------------------ container protocol
    def __len__(self) -> int:
        return len(self.utterances)

    def __iter__(self) -> Iterator[Utterance]:
        return iter(self.utterances)

    def __getitem__(self, key: int | str) -> Utterance:
        if isinstance(key, str):
            for utt in self.utterances:
                if utt.id == key:
                    return utt
            raise KeyError(f"no utterance {key!r} in corpus {self.name!r}")
        return self.utterances[key]

    def ids(self) -> list[str]:
        return [u.id for u in self.utterances]

    def subset(self, ids_or_n: int | list[str]) -> "Corpus":
        if isinstance(ids_or_n, int):
            utts = self.utterances[:ids_or_n]
        else:
            wanted = set(ids_or_n)
            utts = [u for u in self.utterances if u.id in wanted]
        return Corpus(utts, name=self.name, source=self.source, problems=list(self.problems))

    def add(self, utt: Utterance) -> None:
        if any(u.id == utt.id for u in self.utterances):
            raise CorpusError(f"utterance id {utt.id!r} is already in corpus {self.name!r}; choose another id")
        self.utterances.append(utt)

    def to_frame(self):
        """One row per utterance: id, audio, text, speaker, duration and extra columns."""
        import pandas as pd

        rows = []
        for u in self.utterances:
            row = {"id": u.id, "audio": u.audio if u.audio is not None else "<array>", "text": u.text,
                   "speaker": u.speaker, "duration": u.duration}
            row.update({k: v for k, v in u.extra.items() if k not in row})
            rows.append(row)
        return pd.DataFrame(rows, columns=None if rows else ["id", "audio", "text", "speaker", "duration"])

    def problems_frame(self):
        import pandas as pd

        return pd.DataFrame([p.__dict__ for p in self.problems], columns=["source", "row", "reason"])

    def __repr__(self) -> str:
        return f"Corpus({self.name!r}, {len(self)} utterances, {len(self.problems)} problems)"

    # ------------------------------------------------------------ loaders
    @classmethod
    def load(cls, source: str | os.PathLike, **kw) -> "Corpus":
        """Guess the layout: a ``.jsonl``/``.json`` or ``.csv`` manifest, a LibriSpeech tree, or a folder."""
        path = Path(source)
        if not path.exists():
            raise CorpusError(f"{path}: no such file or folder; give a manifest (.jsonl/.csv) or a folder of audio")
        if not path.is_dir() and not path.is_file():
            from .audio import file_kind

            raise CorpusError(f"{path}: is {file_kind(path.stat().st_mode)}, not a manifest file or a folder; "
                              "give a .jsonl/.csv manifest or a folder of audio")
        if path.is_file():
            if path.suffix in (".jsonl", ".json"):
                return cls.from_jsonl(path, **kw)
            if path.suffix in (".csv", ".tsv"):
                return cls.from_csv(path, **kw)
            raise CorpusError(f"{path}: unknown manifest type {path.suffix!r}; use .jsonl or .csv")
        if any(path.rglob("*.trans.txt")):
            return cls.from_librispeech(path, **kw)
        return cls.from_folder(path, **kw)

    @classmethod
    def from_librispeech(cls, root: str | os.PathLike, *, name: str | None = None) -> "Corpus":
        """``<speaker>/<chapter>/<speaker>-<chapter>-<utt>.flac`` with ``*.trans.txt`` per chapter."""
        root = _must_exist(Path(root), "LibriSpeech folder")
        utts, problems = [], []
        for trans in sorted(root.rglob("*.trans.txt")):
            for line_no, line in enumerate(trans.read_text(encoding="utf-8").splitlines(), 1):
                if not line.strip():
                    continue
                uid, _, text = line.strip().partition(" ")
                audio = trans.parent / f"{uid}.flac"
                if not audio.exists():
                    problems.append(Problem(str(trans), f"line {line_no}", f"{audio.name} is missing", id=uid))
                    continue
                utts.append(Utterance(id=uid, audio=str(audio), text=text, speaker=uid.split("-")[0],
                                      duration=_header_duration(audio),
                                      extra={"chapter": uid.split("-")[1] if "-" in uid else None}))
        if not utts and not problems:
            raise CorpusError(f"{root}: no *.trans.txt files found; is this a LibriSpeech folder?")
        return cls(utts, name=name or root.name, source=str(root), problems=problems)

    @classmethod
    def from_jsonl(cls, manifest: str | os.PathLike, *, name: str | None = None) -> "Corpus":
        """NeMo-style JSON lines: ``audio_filepath``, ``text``, ``duration`` (+ any other keys)."""
        manifest = _must_be_file(Path(manifest), "JSONL manifest")
        utts, problems = [], []
        for line_no, line in enumerate(_utf8_lines(manifest, problems), 1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
                if not isinstance(row, dict):
                    raise ValueError("not a JSON object")
            except ValueError as exc:
                problems.append(Problem(str(manifest), f"line {line_no}", f"bad JSON ({exc})"))
                continue
            utt = _row_to_utterance(row, manifest, line_no, problems)
            if utt is not None:
                utts.append(utt)
        return cls(utts, name=name or manifest.stem, source=str(manifest), problems=problems)

    @classmethod
    def from_csv(cls, manifest: str | os.PathLike, *, name: str | None = None) -> "Corpus":
        """CSV/TSV with a header; columns ``audio_filepath`` (or ``audio``/``path``), ``text``, ..."""
        manifest = _must_be_file(Path(manifest), "CSV manifest")
        delim = "\t" if manifest.suffix == ".tsv" else ","
        utts, problems = [], []
        lines = _utf8_lines(manifest, problems)
        if problems and problems[0].row == "line 1":
            raise CorpusError(f"{manifest}: the header line is not UTF-8 text; re-save the file as UTF-8")
        reader = csv.DictReader(lines, delimiter=delim)  # a bad line is blank here, and DictReader skips it
        for row in reader:
            utt = _row_to_utterance({k: v for k, v in row.items() if k is not None}, manifest, reader.line_num, problems)
            if utt is not None:
                utts.append(utt)
        return cls(utts, name=name or manifest.stem, source=str(manifest), problems=problems)

    @classmethod
    def from_folder(cls, folder: str | os.PathLike, *, name: str | None = None) -> "Corpus":
        """Audio files with optional same-named ``.txt`` references beside them."""
        folder = _must_exist(Path(folder), "folder")
        utts, problems = [], []
        for path in sorted(p for p in folder.rglob("*") if p.suffix.lower() in AUDIO_EXTS and not p.is_file()
                           and not p.is_dir()):  # a pipe or device named like audio: reported, never opened
            from .audio import file_kind

            try:
                what = f"is {file_kind(path.stat().st_mode)}, not a regular audio file; skipped"
            except OSError:
                what = "is a broken link; skipped"
            problems.append(Problem(str(folder), str(path.relative_to(folder)), what))
        for path in sorted(p for p in folder.rglob("*") if p.suffix.lower() in AUDIO_EXTS and p.is_file()):
            ref = path.with_suffix(".txt")
            text = ref.read_text(encoding="utf-8").strip() if ref.exists() else None
            uid = str(path.relative_to(folder).with_suffix("")).replace(os.sep, "/")
            utts.append(Utterance(id=uid, audio=str(path), text=text, duration=_header_duration(path)))
        if not utts:
            raise CorpusError(f"{folder}: no audio files ({', '.join(AUDIO_EXTS)}) found"
                              + (f" ({len(problems)} not regular files)" if problems else ""))
        return cls(utts, name=name or folder.name, source=str(folder), problems=problems)

    @classmethod
    def from_arrays(cls, items: dict[str, np.ndarray] | list[np.ndarray], *, sample_rate: int = 16_000,
                    texts: dict[str, str] | list[str] | None = None, name: str = "arrays") -> "Corpus":
        """In-memory audio, e.g. synthesized speech."""
        if not isinstance(items, dict):
            items = {f"utt{i:04d}": a for i, a in enumerate(items)}
        if texts is not None and not isinstance(texts, dict):
            texts = dict(zip(items, texts))
        utts = [Utterance(id=k, array=np.asarray(v, dtype=np.float32), sample_rate=sample_rate,
                          text=(texts or {}).get(k), duration=len(v) / sample_rate) for k, v in items.items()]
        return cls(utts, name=name)


_AUDIO_KEYS = ("audio_filepath", "audio", "path", "file", "wav")
_ID_KEYS = ("id", "utt_id", "utterance_id", "key")


def _row_to_utterance(row: dict, manifest: Path, line_no: int, problems: list[Problem]) -> Utterance | None:
    audio_key = next((k for k in _AUDIO_KEYS if row.get(k)), None)
    if audio_key is None:
        uid = next((str(row[k]) for k in _ID_KEYS if row.get(k) not in (None, "")), None)
        problems.append(Problem(str(manifest), f"line {line_no}",
                                f"no audio column (expected one of {', '.join(_AUDIO_KEYS)})", id=uid))
        return None
    audio = Path(str(row[audio_key])).expanduser()
    if not audio.is_absolute():
        audio = manifest.parent / audio
    uid = next((str(row[k]) for k in _ID_KEYS if row.get(k) not in (None, "")), None) or audio.stem
    if not audio.exists():
        problems.append(Problem(str(manifest), f"line {line_no}", f"audio file {audio} does not exist", id=uid))
        return None
    text = row.get("text")
    duration = row.get("duration")
    try:
        duration = float(duration) if duration not in (None, "") else None
    except (TypeError, ValueError):
        problems.append(Problem(str(manifest), f"line {line_no}", f"duration {duration!r} is not a number; ignored",
                                id=uid))
        duration = None
    if duration is None:
        duration = _header_duration(audio)
    known = set(_AUDIO_KEYS) | set(_ID_KEYS) | {"text", "duration", "speaker"}
    return Utterance(id=uid, audio=str(audio), text=None if text is None else str(text),
                     speaker=None if row.get("speaker") in (None, "") else str(row["speaker"]), duration=duration,
                     extra={k: v for k, v in row.items() if k not in known})


_BOMS = ((b"\xff\xfe\x00\x00", "utf-32-le"), (b"\x00\x00\xfe\xff", "utf-32-be"), (b"\xff\xfe", "utf-16-le"),
         (b"\xfe\xff", "utf-16-be"))


def _utf8_lines(manifest: Path, problems: list[Problem]) -> list[str]:
    """The file's lines, decoded one by one: a line that is not UTF-8 becomes a problem row (and
    an empty line, so line numbers stay in step) instead of losing the whole corpus.

    A UTF-16/32 file with a byte-order mark is decoded whole; one without a mark (NUL bytes
    between the characters) is refused with a clear :class:`CorpusError`.
    """
    data = manifest.read_bytes()
    for bom, codec in _BOMS:
        if data.startswith(bom):
            try:
                return data[len(bom):].decode(codec).splitlines(keepends=True)
            except UnicodeDecodeError as exc:
                raise CorpusError(f"{manifest}: starts with a {codec.upper()} byte-order mark but is not valid "
                                  f"{codec.upper()} ({exc.reason} at byte {exc.start}); re-save it as UTF-8") from exc
    head = data[:4096]
    if head and head.count(b"\x00") * 4 >= len(head):
        raise CorpusError(f"{manifest}: holds NUL bytes between the characters — UTF-16 or UTF-32 text without a "
                          "byte-order mark; re-save the manifest as UTF-8")
    lines = []
    for line_no, raw in enumerate(data.splitlines(keepends=True), 1):
        try:
            lines.append(raw.decode("utf-8-sig" if line_no == 1 else "utf-8"))
        except UnicodeDecodeError as exc:
            problems.append(Problem(str(manifest), f"line {line_no}",
                                    f"not UTF-8 text ({exc.reason} at byte {exc.start}); re-save the manifest as UTF-8"))
            lines.append("\n")
    return lines


def _must_exist(path: Path, what: str) -> Path:
    if not path.exists():
        raise CorpusError(f"{path}: no such {what}; check the path (relative paths resolve against the current folder)")
    return path


def _must_be_file(path: Path, what: str) -> Path:
    """A manifest must be a regular file: a FIFO or device would block or never end when read."""
    _must_exist(path, what)
    if not path.is_file():
        from .audio import file_kind

        raise CorpusError(f"{path}: is {file_kind(path.stat().st_mode)}, not a regular file; give the {what} as a "
                          "file on disk")
    return path


def _header_duration(path: Path) -> float | None:
    """Seconds from the file header only (soundfile); ``None`` when the header cannot be read."""
    import soundfile as sf

    if not Path(path).is_file():  # a FIFO would block, a device never end: the engine reports the row
        return None
    try:
        return float(sf.info(str(path)).duration)
    except Exception:  # unreadable files keep their row: the engine reports them as error rows
        return None


def as_corpus(source) -> Corpus:
    """A corpus from a Corpus, a path (manifest, folder, or audio file), an array, or a list of those."""
    import os

    if isinstance(source, Corpus):
        return source
    if isinstance(source, Utterance):
        return Corpus([source])
    if isinstance(source, np.ndarray):
        return Corpus.from_arrays([source])
    if isinstance(source, (str, os.PathLike)):
        from pathlib import Path

        path = Path(source)
        manifest = path.suffix.lower() in (".jsonl", ".json", ".csv", ".tsv")
        if not manifest and (path.suffix.lower() in AUDIO_EXTS or (path.exists() and not path.is_dir())):
            # one audio file (or a pipe/device, reported as the row's error): never a silent nothing
            return Corpus([Utterance(id=path.stem, audio=str(path))], name=path.stem)
        return Corpus.load(path)
    if isinstance(source, (list, tuple)):
        utts = []
        for i, item in enumerate(source):
            if isinstance(item, Utterance):
                utts.append(item)
            elif isinstance(item, np.ndarray):
                utts.append(Utterance(id=f"utt{i:04d}", array=item, sample_rate=16_000))
            else:
                from pathlib import Path

                utts.append(Utterance(id=Path(str(item)).stem, audio=str(item)))
        return Corpus(utts)
    raise WorkbenchError(f"cannot analyze a {type(source).__name__}; give a Corpus, a path, an array or a list")
