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
    "ModelRegistry": "models.registry", "default_registry": "models.registry", "ModelSpec": "models.specs",
    "Wav2Vec2Bundle": "models.w2v2", "KokoroModel": "models.kokoro",
    # data
    "Corpus": "data.corpus", "Utterance": "data.corpus", "load_audio": "data.audio", "DiskCache": "data.cache",
    # analysis
    "analyze": "asr.engine", "transcribe": "asr.engine", "stream_transcribe": "asr.engine",
    "AnalysisResult": "asr.engine", "UtteranceAnalysis": "asr.engine",
    # alignment
    "forced_align": "asr.alignment", "greedy_alignment": "asr.alignment", "Alignment": "asr.alignment",
    "localize_errors": "asr.alignment_errors", "calibration": "asr.alignment_errors",
    # scoring and evaluation
    "score_corpus": "scoring.wer", "CorpusScore": "scoring.wer", "compare_systems": "scoring.compare", "Comparison": "scoring.compare",
    "evaluate": "evaluation.evaluate", "Evaluation": "evaluation.evaluate", "Normalizer": "scoring.normalize",
    "default_normalizer": "scoring.normalize", "raw_normalizer": "scoring.normalize",
    # speech synthesis
    "synthesize": "tts.synthesis", "synthesize_phonemes": "tts.synthesis", "SynthesisResult": "tts.synthesis",
    "phonemize": "tts.phonemize", "Voice": "models.voices",
    # views and reports (ipywidgets only inside panels)
    "Session": "panels.session", "Workbench": "panels.app", "Report": "reports.report",
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
