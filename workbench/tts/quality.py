"""Optional offline quality measure: speaker similarity of synthesized speech with Resemblyzer.

Resemblyzer 0.1.4 (PyPI) ships its own speaker-encoder weights (``pretrained.pt``, a 3-layer
LSTM, 256-d L2-normalised d-vectors at 16 kHz) and runs on this project's torch.  It declares two
dependencies that do not install cleanly today (``webrtcvad``, an sdist that imports the removed
``pkg_resources``, and the Python 2 ``typing`` backport), so install it as::

    pip install --no-deps resemblyzer==0.1.4 && pip install webrtcvad-wheels==2.0.14.post1

Without it, :func:`available` is False and the functions raise :class:`ModelNotAvailableError`
saying so; tests skip.

``speaker_similarity(syntheses)`` embeds each synthesized utterance and returns the cosine
matrix plus a per-voice table: how alike the voice sounds across texts (within-voice mean
cosine) and how close it comes to the other voices (nearest other voice).  For a blend, compare
its utterances with those of its parents.
"""
from __future__ import annotations

import importlib.util
from dataclasses import dataclass
from typing import Mapping

import numpy as np

from ..errors import ModelNotAvailableError
from ..models.registry import ModelRegistry, resolve

ENCODER_RATE = 16_000
INSTALL = "pip install --no-deps resemblyzer==0.1.4 && pip install webrtcvad-wheels==2.0.14.post1"


def available() -> bool:
    """Whether Resemblyzer and a webrtcvad module are importable (no import is done)."""
    return importlib.util.find_spec("resemblyzer") is not None and importlib.util.find_spec("webrtcvad") is not None


def speaker_encoder(*, registry: ModelRegistry | None = None):
    """Resemblyzer's ``VoiceEncoder`` on CPU, loaded once per registry."""
    if not available():
        raise ModelNotAvailableError(f"speaker similarity needs Resemblyzer: {INSTALL}")

    def build():
        from resemblyzer import VoiceEncoder

        return VoiceEncoder(device="cpu", verbose=False)

    return resolve(registry).resource(("resemblyzer",), build)


def speaker_embedding(audio: np.ndarray, sample_rate: int, *, registry: ModelRegistry | None = None) -> np.ndarray:
    """The 256-d d-vector of one utterance (volume-normalised, long silences trimmed by Resemblyzer)."""
    from resemblyzer import preprocess_wav

    encoder = speaker_encoder(registry=registry)
    wav = preprocess_wav(np.asarray(audio, dtype=np.float32), source_sr=int(sample_rate))
    return np.asarray(encoder.embed_utterance(wav), dtype=np.float64)


@dataclass
class SpeakerSimilarity:
    """Utterance embeddings, their cosine matrix and a per-voice summary."""

    embeddings: dict[str, np.ndarray]
    voices: dict[str, str]
    matrix: object  # DataFrame ids x ids
    per_voice: object  # DataFrame: voice, utterances, within, nearest_voice, nearest

    def to_frame(self):
        return self.per_voice


def speaker_similarity(syntheses: Mapping[str, object], *, registry: ModelRegistry | None = None) -> SpeakerSimilarity:
    """Cosine similarity of Resemblyzer embeddings between synthesized utterances (keyed by id)."""
    import pandas as pd

    ids = list(syntheses)
    emb = {uid: speaker_embedding(r.audio, r.sample_rate, registry=registry) for uid, r in syntheses.items()}
    voices = {uid: r.voice for uid, r in syntheses.items()}
    X = np.stack([emb[u] for u in ids]) if ids else np.zeros((0, 256))
    unit = X / np.maximum(np.linalg.norm(X, axis=1, keepdims=True), 1e-12)
    sim = unit @ unit.T
    matrix = pd.DataFrame(sim, index=ids, columns=ids)
    rows = []
    names = sorted(set(voices.values()))
    for v in names:
        mine = [i for i, u in enumerate(ids) if voices[u] == v]
        pairs = [sim[i, j] for i in mine for j in mine if i < j]
        others = {w: float(np.mean([sim[i, j] for i in mine for j, u in enumerate(ids) if voices[u] == w]))
                  for w in names if w != v}
        nearest = max(others, key=others.get) if others else None
        rows.append({"voice": v, "utterances": len(mine), "within": float(np.mean(pairs)) if pairs else float("nan"),
                     "nearest_voice": nearest, "nearest": others.get(nearest, float("nan")) if nearest else float("nan")})
    return SpeakerSimilarity(embeddings=emb, voices=voices, matrix=matrix,
                             per_voice=pd.DataFrame(rows, columns=["voice", "utterances", "within", "nearest_voice",
                                                                   "nearest"]))
