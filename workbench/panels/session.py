"""The shared session: a small observable object that linked panels read and write.

It holds the current corpus, model names, the selected utterance, time span and word, the
frames to highlight and the latest results.  Panels call
``session.observe(callback, "selected_utterance")`` and set attributes; every observer of a
changed name is called with a :class:`Change`.  Pure Python (no ipywidgets), so the core and
tests can use it.

Beyond plain attributes:

* ``observe(..., order=1)`` runs an observer after the ones of order 0 (the app uses this to
  derive state from what the panels did with a change);
* :meth:`Session.capture` records the observers a newly built panel registers and
  :meth:`Session.replay` hands them the current state, so a panel built late (a lazily
  opened tab) shows the selection made before it existed;
* :meth:`Session.add_utterance` adds one utterance to the corpus in place and tells the
  ``corpus`` observers (the object is the same, so plain assignment would not);
* :meth:`Session.save` / :meth:`Session.load` write and read JSON: corpus path (and the ids
  of a subset), model names, voice, selection, highlighted frames and a free ``view`` dict.
  Utterances that live only in memory (synthesized speech) are written as WAV files in a
  folder beside the JSON, so the reopened session holds them too.
"""
from __future__ import annotations

import itertools
import json
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterator

from ..errors import CorpusError

OBSERVABLE = ("corpus", "asr_model", "pretraining_model", "tts_voice", "selected_utterance", "selected_span",
              "selected_word", "highlight_frames", "results")

_DEFAULTS = {"asr_model": "w2v2-tiny-ctc", "pretraining_model": "w2v2-tiny", "tts_voice": "af_heart"}
_clock = itertools.count(1)


@dataclass(frozen=True)
class Change:
    name: str
    old: Any
    new: Any


Observer = Callable[[Change], None]


class Session:
    """Observable state shared by the panels of one app."""

    def __init__(self, *, corpus=None, asr_model: str = "w2v2-tiny-ctc", pretraining_model: str = "w2v2-tiny",
                 tts_voice: str = "af_heart", registry=None) -> None:
        object.__setattr__(self, "_observers", {})  # name -> [(order, seq, callback)]
        object.__setattr__(self, "_stamps", {})  # name -> when it last changed (for replay order)
        object.__setattr__(self, "_captures", [])
        self.registry = registry
        self.corpus = corpus
        self.asr_model = asr_model
        self.pretraining_model = pretraining_model
        self.tts_voice = tts_voice
        self.selected_utterance: str | None = None
        self.selected_span: tuple[float, float] | None = None
        self.selected_word: dict | None = None
        self.highlight_frames: dict | None = None
        self.results: dict[str, Any] = {}
        self.view: dict[str, Any] = {}  # free app layout state (e.g. the open tab); saved, not observed

    # ------------------------------------------------------------------ observers
    def observe(self, callback: Observer, names: str | tuple[str, ...] = OBSERVABLE, *, order: int = 0) -> None:
        """Call ``callback(Change)`` when one of ``names`` changes; larger ``order`` runs later."""
        for name in (names,) if isinstance(names, str) else names:
            if name not in OBSERVABLE:
                raise ValueError(f"{name!r} is not observable; choose from {', '.join(OBSERVABLE)}")
            entries = self._observers.setdefault(name, [])
            entries.append((order, next(_clock), callback))
            entries.sort(key=lambda e: (e[0], e[1]))
            for captured in self._captures:
                captured.append((name, callback))

    def unobserve(self, callback: Observer, names: str | tuple[str, ...] | None = None) -> None:
        """Stop calling ``callback`` (for ``names``, default all)."""
        wanted = None if names is None else {names} if isinstance(names, str) else set(names)
        for name, entries in self._observers.items():
            if wanted is None or name in wanted:
                entries[:] = [e for e in entries if e[2] != callback]

    def notify(self, name: str, old: Any = None) -> None:
        """Tell ``name``'s observers it changed in place (e.g. an utterance added to the corpus)."""
        self._stamps[name] = next(_clock)
        self._fire(Change(name, old, getattr(self, name)))

    def _fire(self, change: Change) -> None:
        for _, _, callback in list(self._observers.get(change.name, [])):
            callback(change)

    def __setattr__(self, name: str, value: Any) -> None:
        old = self.__dict__.get(name, None)
        object.__setattr__(self, name, value)
        if name in OBSERVABLE and (old is not value) and not _equal(old, value):
            self._stamps[name] = next(_clock)
            self._fire(Change(name, old, value))

    @contextmanager
    def capture(self) -> Iterator[list[tuple[str, Observer]]]:
        """Collect ``(name, callback)`` for every observer registered inside the block."""
        captured: list[tuple[str, Observer]] = []
        self._captures.append(captured)
        try:
            yield captured
        finally:
            self._captures.remove(captured)

    def replay(self, observers: list[tuple[str, Observer]]) -> None:
        """Hand ``observers`` the current value of each name they watch (set values only), in
        the order the values were last set, as if they had watched all along.  A selected word
        or highlight of another utterance than the selected one is stale and not replayed."""
        names = sorted({n for n, _ in observers}, key=lambda n: self._stamps.get(n, 0))
        for name in names:
            value = getattr(self, name)
            if value is None or (name == "results" and not value):
                continue
            if name in ("selected_word", "highlight_frames") and not self._current(value):
                continue
            for n, callback in observers:
                if n == name:
                    callback(Change(name, None, value))

    def _current(self, item: dict) -> bool:
        uid = item.get("utterance") if isinstance(item, dict) else None
        return uid is None or self.selected_utterance is None or uid == self.selected_utterance

    # ------------------------------------------------------------------ actions
    def select(self, utterance_id: str | None, span: tuple[float, float] | None = None) -> None:
        """Select an utterance (and optionally a time span inside it).  A selected word or a
        highlight that belongs to another utterance is cleared."""
        self.selected_utterance = utterance_id
        self.selected_span = None if span is None else (float(span[0]), float(span[1]))
        if self.selected_word is not None and not self._current(self.selected_word):
            self.selected_word = None
        if self.highlight_frames is not None and not self._current(self.highlight_frames):
            self.highlight_frames = None

    def add_utterance(self, utterance, *, select: bool = True) -> None:
        """Add ``utterance`` (a :class:`~workbench.data.corpus.Utterance`) to the corpus, tell the
        ``corpus`` observers, and select it.  Starts an in-memory corpus when there is none."""
        from ..data.corpus import Corpus

        if self.corpus is None:
            self.corpus = Corpus([utterance], name="session")
            if select:
                self.select(utterance.id)
            return
        self.corpus.add(utterance)  # raises CorpusError on a duplicate id
        if select:  # selection first: observers that refresh on a new id then go straight to it
            self.select(utterance.id)
        self.notify("corpus", old=self.corpus)

    # ------------------------------------------------------------------ persistence
    def to_dict(self, *, audio_dir: str | Path | None = None) -> dict:
        """Plain JSON data.  In-memory utterances are written as WAV into ``audio_dir`` (when
        given) and listed under ``added``; without it they are left out."""
        corpus = self.corpus
        source = getattr(corpus, "source", None)
        data: dict[str, Any] = {
            "version": 1, "corpus": source, "corpus_name": getattr(corpus, "name", None),
            "corpus_ids": None, "added": [],
            "asr_model": self.asr_model, "pretraining_model": self.pretraining_model, "tts_voice": self.tts_voice,
            "selected_utterance": self.selected_utterance,
            "selected_span": list(self.selected_span) if self.selected_span else None,
            "selected_word": _jsonable(self.selected_word), "highlight_frames": _jsonable(self.highlight_frames),
            "view": _jsonable(self.view),
        }
        if corpus is not None:
            kept = [u for u in corpus if u.array is None and u.audio is not None]
            data["corpus_ids"] = [u.id for u in kept] if source else None
            if source is None:  # no manifest to reload from: list the file-backed utterances themselves
                data["files"] = [{"id": u.id, "audio": u.audio, "text": u.text, "speaker": u.speaker} for u in kept]
            memory = [u for u in corpus if u.array is not None]
            if memory and audio_dir is not None:
                import soundfile as sf

                audio_dir = Path(audio_dir)
                audio_dir.mkdir(parents=True, exist_ok=True)
                for u in memory:
                    wav = audio_dir / f"{_safe(u.id)}.wav"
                    sf.write(wav, u.array, int(u.sample_rate or 16_000), subtype="FLOAT")
                    data["added"].append({"id": u.id, "audio": str(wav), "text": u.text, "speaker": u.speaker,
                                          "extra": _jsonable(u.extra)})
        return data

    def save(self, path: str | Path) -> Path:
        """Write the session as JSON (in-memory audio goes to ``<path stem>.audio/``)."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        data = self.to_dict(audio_dir=path.with_name(path.stem + ".audio"))
        for item in data["added"]:  # stored relative to the JSON so the pair can move together
            item["audio"] = str(Path(item["audio"]).relative_to(path.parent))
        path.write_text(json.dumps(data, indent=2))
        return path

    @classmethod
    def from_dict(cls, data: dict, *, registry=None, base: str | Path | None = None) -> "Session":
        """Rebuild a session (corpus reloaded from its path); relative audio paths resolve against ``base``."""
        from ..data.corpus import Corpus, Utterance

        corpus = None
        if data.get("corpus"):
            corpus = Corpus.load(data["corpus"])
            ids = data.get("corpus_ids")
            if ids is not None and len(ids) != len(corpus):
                missing = set(ids) - set(corpus.ids())
                if missing:
                    raise CorpusError(f"{len(missing)} saved utterance(s) are no longer in {data['corpus']} "
                                      f"(e.g. {sorted(missing)[0]!r}); the corpus changed since the session was saved")
                corpus = corpus.subset(ids)
        elif data.get("files"):
            corpus = Corpus([Utterance(id=f["id"], audio=f["audio"], text=f.get("text"), speaker=f.get("speaker"))
                             for f in data["files"]], name=data.get("corpus_name") or "session")
        for item in data.get("added", []):
            from ..data.audio import read_audio

            wav = Path(item["audio"])
            if not wav.is_absolute() and base is not None:
                wav = Path(base) / wav
            audio, sr = read_audio(wav)
            utt = Utterance(id=item["id"], array=audio, sample_rate=sr, text=item.get("text"),
                            speaker=item.get("speaker"), duration=len(audio) / sr, extra=item.get("extra") or {})
            if corpus is None:
                corpus = Corpus([utt], name=data.get("corpus_name") or "session")
            else:
                corpus.add(utt)
        s = cls(corpus=corpus, **{k: data.get(k) or v for k, v in _DEFAULTS.items()}, registry=registry)
        s.view = dict(data.get("view") or {})
        span = data.get("selected_span")
        s.select(data.get("selected_utterance"), tuple(span) if span else None)
        s.selected_word = data.get("selected_word")
        s.highlight_frames = data.get("highlight_frames")
        return s

    @classmethod
    def load(cls, path: str | Path, *, registry=None) -> "Session":
        path = Path(path)
        try:
            data = json.loads(path.read_text())
        except FileNotFoundError:
            raise CorpusError(f"{path}: no such session file; save one with Session.save / Workbench.save_session") \
                from None
        except json.JSONDecodeError as exc:
            raise CorpusError(f"{path}: not a session JSON file ({exc})") from None
        return cls.from_dict(data, registry=registry, base=path.parent)

    def __repr__(self) -> str:
        return (f"Session(corpus={self.corpus!r}, asr_model={self.asr_model!r}, "
                f"pretraining_model={self.pretraining_model!r}, selected={self.selected_utterance!r})")


def _equal(a: Any, b: Any) -> bool:
    try:
        return bool(a == b)
    except Exception:  # arrays and other objects without a plain truth value
        return False


def _jsonable(value: Any) -> Any:
    """Dicts/lists/tuples of numbers and strings as plain JSON types (numpy scalars included)."""
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if value is None or isinstance(value, (str, bool, int, float)):
        return value
    if hasattr(value, "item"):  # numpy scalar
        return value.item()
    return str(value)


def _safe(uid: str) -> str:
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in uid)
