"""Where words really start in Kokoro's audio: energy onsets after pauses, against its timestamps.

Kokoro's word times come from predicted durations, not from the sound, and two conventions
exist for the same durations (:class:`workbench.tts.synthesis.WordTiming`): the duration edges
and the reference ``kokoro.KPipeline``'s stamps (three frames earlier, spaces split).  A word
spoken after a pause starts where the energy rises out of silence, so isolated words
("Ten. Pigs. Cats.") give an acoustic check of both: :func:`onset_offsets` tabulates, per word,
the energy onset minus each convention's start.
"""
from __future__ import annotations

import numpy as np

#: Words that start with a stop or fricative, each after a full stop (so after a pause).
ONSET_TEXT = "Ten. Pigs. Cats. Tea. Pots. Kites. Top. Dogs. Sun. Fish."
ONSET_VOICES = ("af_heart", "am_adam", "bf_emma", "bm_lewis", "af_bella", "am_puck")


def energy_onset(audio: np.ndarray, sample_rate: int, near: float, *, before: float = 0.2, after: float = 0.25,
                 window: float = 0.005, rise: float = 0.1) -> float:
    """The time (s) the energy rises out of the pause before ``near``: the quietest point in
    ``[near - before, near + 0.05]``, then the first sample whose RMS (``window`` s) passes ``rise``
    x the loudest point up to ``near + after``."""
    x = np.asarray(audio, dtype=np.float64)
    n = max(1, int(window * sample_rate))
    a = int(max(0.0, near - before) * sample_rate)
    b = min(len(x), int((near + 0.05) * sample_rate))
    if b <= a:
        raise ValueError(f"near={near} s lies outside the {len(x) / sample_rate:.2f} s of audio")
    end = min(len(x), int((near + after) * sample_rate))
    lo, hi = max(0, a - n), min(len(x), max(b, end) + n)  # the RMS is local: a window's margin gives whole-clip values
    env = np.sqrt(np.convolve(x[lo:hi] ** 2, np.ones(n) / n, mode="same"))
    quiet = a + int(np.argmin(env[a - lo:b - lo]))
    seg = env[quiet - lo:end - lo]
    if seg.size == 0 or seg.max() <= 0:
        return quiet / sample_rate
    return (quiet + int(np.argmax(seg > rise * seg.max()))) / sample_rate


def onset_offsets(text: str = ONSET_TEXT, voices=ONSET_VOICES, *, registry=None):
    """One row per word: voice, word, onset (s) and ``onset - start`` for both conventions (ms).

    Negative means the sound starts before the stamp (the stamp is late)."""
    import pandas as pd

    from .synthesis import SAMPLE_RATE, synthesize

    rows = []
    for voice in voices:
        result = synthesize(text, voice, registry=registry)
        for w in result.word_timings().itertuples():
            onset = energy_onset(result.audio, SAMPLE_RATE, w.start)
            rows.append({"voice": voice, "word": w.word, "start": w.start, "pipeline_start": w.pipeline_start,
                         "onset": round(onset, 4), "vs_edges_ms": round((onset - w.start) * 1000, 1),
                         "vs_pipeline_ms": round((onset - w.pipeline_start) * 1000, 1)})
    return pd.DataFrame(rows)
