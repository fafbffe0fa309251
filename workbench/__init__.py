"""workbench: look inside wav2vec2 CTC recognisers and the Kokoro-82M TTS model from JupyterLab.

The top-level names are imported lazily (PEP 562), so ``import workbench`` is cheap and pulls
in neither torch nor ipywidgets; each name loads its module on first use::

    import workbench as wb
    reg = wb.default_registry()
    corpus = wb.Corpus.load("datasets/kokoro-eval/manifest.jsonl")
    result = wb.analyze(corpus, "w2v2-tiny-ctc", registry=reg)
"""
from __future__ import annotations

import importlib
from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("workbench")
except PackageNotFoundError:  # running from a source tree that was never installed
    __version__ = "0+unknown"

#: public name -> module (relative to this package) that defines it
_EXPORTS: dict[str, str] = {
    # models
    "ModelRegistry": "registry", "default_registry": "registry", "ModelSpec": "specs",
    "Wav2Vec2Bundle": "w2v2", "KokoroModel": "kokoro",
    # data
    "Corpus": "corpus", "Utterance": "corpus", "load_audio": "audio", "DiskCache": "cache",
    # analysis
    "analyze": "engine", "transcribe": "engine", "stream_transcribe": "engine",
    "AnalysisResult": "engine", "UtteranceAnalysis": "engine",
    # alignment
    "forced_align": "alignment", "greedy_alignment": "alignment", "Alignment": "alignment",
    "localize_errors": "align_errors", "calibration": "align_errors",
    # scoring and evaluation
    "score_corpus": "scoring", "CorpusScore": "scoring", "compare_systems": "compare", "Comparison": "compare",
    "evaluate": "evaluation", "Evaluation": "evaluation", "Normalizer": "normalize",
    "default_normalizer": "normalize", "raw_normalizer": "normalize",
    # speech synthesis
    "synthesize": "synthesis", "synthesize_phonemes": "synthesis", "SynthesisResult": "synthesis",
    "phonemize": "g2p", "Voice": "voices",
    # views and reports (ipywidgets only inside panels)
    "Session": "session", "Workbench": "panels.app", "Report": "report",
    # errors
    "WorkbenchError": "errors", "ModelNotAvailableError": "errors", "UnknownModelError": "errors",
    "AssetIntegrityError": "errors", "AudioError": "errors", "CorpusError": "errors", "TextError": "errors",
    "AlignmentError": "errors", "VoiceError": "errors", "CapabilityError": "errors",
}

__all__ = ["__version__", *_EXPORTS]


def __getattr__(name: str):
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{module}"), name)
    globals()[name] = value  # later lookups skip __getattr__
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_EXPORTS))
