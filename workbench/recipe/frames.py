"""Frame-level phoneme targets from Kokoro's durations, for an auxiliary loss next to CTC.

Kokoro predicts how many 25 ms frames each phoneme token lasts, so every synthesised (or
spliced) utterance carries exact phoneme spans.  Here they become one class per wav2vec2
frame (20 ms hop, 25 ms window: frame ``t`` is centred at ``(320 t + 200) / 16000`` s).
Stress and length marks are not sounds: their time goes to the phoneme they mark.  Frames in
no phoneme (pauses, padding) are class 0, "silence"; utterances without spans (espeak-ng
speech) get the ignore index, so only CTC trains on them.

Why: CTC from scratch spends its first minutes on the all-blank plateau and learns
spelling-to-sound slowly; a per-frame phoneme label tells every frame what it is from step 1.
"""
from __future__ import annotations

import numpy as np

#: misaki's English phoneme symbols (American and British gold lexicons), one class each.
PHONES = "AIOQWYabdfhijklmnpstuvwzæðŋɑɒɔəɛɜɡɪɹɾʃʊʌʒʔʤʧθᵊᵻ"
SILENCE, OTHER = 0, len(PHONES) + 1
#: Class count of the auxiliary head: silence, the phonemes, any other symbol.
N_CLASSES = len(PHONES) + 2
IGNORE = -100
STRESS, LENGTH = "ˈˌ", "ː"
HOP, WINDOW, RATE = 320, 400, 16_000
_INDEX = {c: i + 1 for i, c in enumerate(PHONES)}


def phone_class(symbol: str) -> int:
    """Class id of one phoneme symbol: 0 for silence and punctuation (Kokoro gives a sentence
    mark the pause after it), ``OTHER`` for letters outside :data:`PHONES`."""
    if not symbol.isalpha():
        return SILENCE
    return _INDEX.get(symbol, OTHER)


def merge_marks(rows) -> list[list]:
    """``[symbol, start, end]`` spans of sounds only, from Kokoro's per-token rows.

    ``rows`` are (symbol, start, end, word) tuples in time order (e.g. from
    ``SynthesisResult.phoneme_timings()``).  A stress mark's span is added to the start of the
    next phoneme of its word, a length mark's to the end of the previous one; spaces and
    punctuation (no word) are dropped.
    """
    out: list[list] = []
    pending: float | None = None
    for symbol, start, end, word in rows:
        if not word or phone_class(symbol) == SILENCE and symbol not in STRESS + LENGTH:
            pending = None
            continue
        if symbol in STRESS:
            pending = start if pending is None else pending
            continue
        if symbol in LENGTH:
            if out and abs(out[-1][2] - start) < 1e-6:
                out[-1][2] = end
            continue
        out.append([symbol, round(float(pending if pending is not None else start), 4), round(float(end), 4)])
        pending = None
    return out


#: The wav2vec2-base feature encoder's (kernel, stride) per conv layer.
CONV = ((10, 5), (3, 2), (3, 2), (3, 2), (3, 2), (2, 2), (2, 2))


def num_frames(num_samples: int) -> int:
    """wav2vec2 output frames for ``num_samples`` (the conv stack's own length formula)."""
    n = num_samples
    for kernel, stride in CONV:
        n = max(0, (n - kernel) // stride + 1)
    return n


def frame_centres(n_frames: int) -> np.ndarray:
    """The time (s) at the centre of each of ``n_frames`` wav2vec2 frames (20 ms hop, 25 ms window)."""
    return (np.arange(n_frames) * HOP + WINDOW / 2) / RATE


def frame_targets(phones, n_frames: int, *, scale: float = 1.0, offset: float = 0.0) -> np.ndarray:
    """One class per frame from ``[symbol, start, end]`` spans (seconds).

    ``scale`` multiplies every time (1 / speed factor when the audio was resampled) and
    ``offset`` shifts them (a clip placed later in a longer input).
    """
    target = np.full(n_frames, SILENCE, dtype=np.int64)
    centres = frame_centres(n_frames)
    for symbol, start, end in phones:
        lo, hi = np.searchsorted(centres, [start * scale + offset, end * scale + offset])
        target[lo:hi] = phone_class(symbol)
    return target


def word_frames(words, n_frames: int) -> np.ndarray:
    """1 for frames centred inside a word span, 0 elsewhere (to check targets against words)."""
    inside = np.zeros(n_frames, dtype=np.int64)
    centres = frame_centres(n_frames)
    for w in words:
        lo, hi = np.searchsorted(centres, [w["start"], w["end"]])
        inside[lo:hi] = 1
    return inside


def silence_mask(targets, margin: int = 2):
    """Frames of ``targets`` ([batch, frames] classes) that are silence at least ``margin`` frames
    away from any sound: the frames where no character may be spoken, whatever the exact boundaries.
    Rows without spans (all :data:`IGNORE`) have none."""
    import torch
    import torch.nn.functional as F

    sound = ((targets != SILENCE) & (targets != IGNORE)).float()[:, None]
    near = F.max_pool1d(sound, 2 * margin + 1, stride=1, padding=margin)[:, 0] > 0 if margin else sound[:, 0] > 0
    return (targets == SILENCE) & ~near


def silence_loss(logits, targets, blank_id: int, delimiter_id: int, margin: int = 2):
    """Mean ``-log p(blank or word delimiter)`` of the CTC head over :func:`silence_mask` frames.

    CTC alone may put a character anywhere its path likes; the demo model learned to say a
    sentence's first letter on the very first frame, in the leading silence, which put forced
    alignments' first words 300 ms early.  Asking for blank (or ``|``, a word gap) where Kokoro's
    durations say nothing is spoken moves the letters onto the speech.  Zero when no frame qualifies.
    """
    import torch

    mask = silence_mask(targets[:, : logits.shape[1]], margin)
    if not bool(mask.any()):
        return logits.sum() * 0.0
    lp = torch.log_softmax(logits[:, : mask.shape[1]].float(), dim=-1)
    quiet = torch.logaddexp(lp[..., blank_id], lp[..., delimiter_id])
    return -quiet[mask].mean()


def batch_with_targets(rows: list[dict], cfg, rng: np.random.Generator):
    """Padded audio, CTC label lists and [batch, frames] phoneme targets for ``rows``.

    The same augmentations as the CTC stage (speed perturbation by resampling, joining clips
    in pairs, extra zero padding), with the frame targets moved along with the audio.
    """
    import torch

    from .build import VOCAB

    clips = []
    for r in rows:
        a, scale = r["array"], 1.0
        if cfg.speed_perturb:
            factor = 1.0 + rng.uniform(-cfg.speed_perturb, cfg.speed_perturb)
            a = np.interp(np.arange(0, len(a) - 1, factor), np.arange(len(a)), a).astype(np.float32)
            scale = 1.0 / factor
        clips.append({"array": a, "labels": list(r["labels"]),
                      "spans": [(r.get("phones"), scale, 0.0)]})
    if cfg.concat_augment and len(clips) > 1 and rng.random() < cfg.concat_augment:
        pause = np.zeros(int(rng.uniform(0.1, 0.6) * RATE), dtype=np.float32)
        joined = []
        for a, b in zip(clips[::2], clips[1::2]):
            shift = (len(a["array"]) + len(pause)) / RATE
            joined.append({"array": np.concatenate([a["array"], pause, b["array"]]),
                           "labels": a["labels"] + [VOCAB["|"]] + b["labels"],
                           "spans": a["spans"] + [(p, s, o + shift) for p, s, o in b["spans"]]})
        if len(clips) % 2:
            joined.append(clips[-1])
        clips = joined
    width = max(len(c["array"]) for c in clips)
    if cfg.pad_augment and rng.random() < cfg.pad_augment:
        width += int(width * rng.uniform(0.05, 0.5))
    x = torch.zeros(len(clips), width)
    frames = num_frames(width)
    targets = torch.full((len(clips), frames), IGNORE, dtype=torch.long)
    for k, c in enumerate(clips):
        x[k, : len(c["array"])] = torch.from_numpy(c["array"])
        if all(p is not None for p, _, _ in c["spans"]):
            t = np.full(frames, SILENCE, dtype=np.int64)
            for phones, scale, offset in c["spans"]:
                t = np.maximum(t, frame_targets(phones, frames, scale=scale, offset=offset))
            targets[k] = torch.from_numpy(t)
    return x, [c["labels"] for c in clips], targets
