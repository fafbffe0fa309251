"""The shared session: a small observable object that linked panels read and write.

It holds the current corpus, model names, the selected utterance and time span, and the
latest results.  Panels call ``session.observe(callback, "selected_utterance")`` and set
attributes; every observer of a changed name is called with a :class:`Change`.  Pure
Python (no ipywidgets), so the core and tests can use it; it saves to and restores from
JSON (selection, model names, corpus path).
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

OBSERVABLE = ("corpus", "asr_model", "pretraining_model", "tts_voice", "selected_utterance", "selected_span",
              "selected_word", "highlight_frames", "results")


@dataclass(frozen=True)
class Change:
    name: str
    old: Any
    new: Any


class Session:
    """Observable state shared by the panels of one app."""

    def __init__(self, *, corpus=None, asr_model: str = "w2v2-tiny-ctc", pretraining_model: str = "w2v2-tiny",
                 tts_voice: str = "af_heart", registry=None) -> None:
        object.__setattr__(self, "_observers", {})
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

    def observe(self, callback: Callable[[Change], None], names: str | tuple[str, ...] = OBSERVABLE) -> None:
        for name in (names,) if isinstance(names, str) else names:
            self._observers.setdefault(name, []).append(callback)

    def unobserve(self, callback: Callable[[Change], None]) -> None:
        for callbacks in self._observers.values():
            if callback in callbacks:
                callbacks.remove(callback)

    def __setattr__(self, name: str, value: Any) -> None:
        old = self.__dict__.get(name, None)
        object.__setattr__(self, name, value)
        if name in OBSERVABLE and (old is not value) and not _equal(old, value):
            for callback in list(self._observers.get(name, [])):
                callback(Change(name, old, value))

    def select(self, utterance_id: str | None, span: tuple[float, float] | None = None) -> None:
        """Select an utterance (and optionally a time span inside it)."""
        self.selected_utterance = utterance_id
        self.selected_span = span

    # ------------------------------------------------------------------ persistence
    def to_dict(self) -> dict:
        corpus_source = getattr(self.corpus, "source", None)
        return {"corpus": corpus_source, "asr_model": self.asr_model, "pretraining_model": self.pretraining_model,
                "tts_voice": self.tts_voice, "selected_utterance": self.selected_utterance,
                "selected_span": list(self.selected_span) if self.selected_span else None}

    def save(self, path: str | Path) -> Path:
        path = Path(path)
        path.write_text(json.dumps(self.to_dict(), indent=2))
        return path

    @classmethod
    def from_dict(cls, data: dict, *, registry=None) -> "Session":
        from .corpus import Corpus

        corpus = Corpus.load(data["corpus"]) if data.get("corpus") else None
        s = cls(corpus=corpus, asr_model=data.get("asr_model", "w2v2-tiny-ctc"),
                pretraining_model=data.get("pretraining_model", "w2v2-tiny"),
                tts_voice=data.get("tts_voice", "af_heart"), registry=registry)
        span = data.get("selected_span")
        s.select(data.get("selected_utterance"), tuple(span) if span else None)
        return s

    @classmethod
    def load(cls, path: str | Path, *, registry=None) -> "Session":
        return cls.from_dict(json.loads(Path(path).read_text()), registry=registry)


def _equal(a: Any, b: Any) -> bool:
    try:
        return bool(a == b)
    except Exception:  # arrays and other objects without a plain truth value
        return False
