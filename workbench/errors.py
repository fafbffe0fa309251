"""The workbench's exceptions, one hierarchy so callers can catch what they can fix.

    WorkbenchError
    ├── ModelNotAvailableError   a model/asset is not on this machine (says how to get it)
    ├── UnknownModelError        a name the registry does not know (lists close matches)
    ├── AssetIntegrityError      a cached or assembled file failed its checksum
    ├── AudioError               unreadable, empty, NaN/inf or zero-length audio
    ├── CorpusError              a manifest/folder that cannot be read at all
    ├── TextError                text that cannot be scored, phonemized or aligned
    ├── AlignmentError           a transcript that cannot fit the frames, bad tokens
    ├── VoiceError               an unknown voice name or a bad blend
    ├── OutputError              an output path that cannot be written (a folder, the same file twice, a format)
    └── CapabilityError          the model cannot do what was asked (e.g. no quantizer)

Every message says what was wrong and what to do about it.
"""
from __future__ import annotations


class WorkbenchError(Exception):
    """Base class of every error the workbench raises on purpose."""


class ModelNotAvailableError(WorkbenchError):
    """A model or asset is not available locally (or offline) — the message says how to get it."""


class UnknownModelError(WorkbenchError, KeyError):
    """The registry has no entry of that name."""

    def __str__(self) -> str:  # KeyError would repr() the message
        return str(self.args[0]) if self.args else ""


class AssetIntegrityError(WorkbenchError):
    """A file failed its checksum or could not be parsed."""


class AudioError(WorkbenchError, ValueError):
    """Audio that cannot be used: missing, unreadable, empty, NaN/inf."""


class CorpusError(WorkbenchError, ValueError):
    """A corpus source that cannot be read as a whole."""


class TextError(WorkbenchError, ValueError):
    """Text that cannot be processed as asked."""


class AlignmentError(WorkbenchError, ValueError):
    """A forced alignment that cannot be computed."""


class VoiceError(WorkbenchError, ValueError):
    """An unknown voice or a malformed blend."""


class OutputError(WorkbenchError, ValueError):
    """An output path that cannot be written as asked."""


class CapabilityError(WorkbenchError):
    """The chosen model cannot do this analysis (e.g. a CTC model has no quantizer)."""
