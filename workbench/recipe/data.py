"""Training and evaluation speech made with Kokoro: resumable, seeded, 16 kHz FLAC + JSONL.

Voices and sentences are split so the evaluation set shares neither with training.  Each
manifest row keeps Kokoro's own word timings (seconds), which the alignment quality bar
compares against.
"""
from __future__ import annotations

import json
import os
import random
from pathlib import Path

import numpy as np

from ..models.specs import KOKORO_VOICES
from .sentences import generate

ENGLISH_VOICES = [v for v in KOKORO_VOICES if v[:1] in "ab"]
EVAL_VOICES = ["af_nova", "am_michael", "bf_lily", "bm_george"]
TRAIN_VOICES = [v for v in ENGLISH_VOICES if v not in EVAL_VOICES]
SPEEDS = (0.85, 1.15)


def split_sentences(n_train: int, n_eval: int, *, seed: int = 0) -> tuple[list[str], list[str]]:
    """Distinct train and held-out sentences from one seeded draw."""
    pool = generate(n_train + n_eval, seed=seed)
    rng = random.Random(seed + 1)
    rng.shuffle(pool)
    return pool[n_eval:], pool[:n_eval]


def _done_ids(manifest: Path) -> set[str]:
    if not manifest.exists():
        return set()
    ids = set()
    for line in manifest.read_text(encoding="utf-8").splitlines():
        try:
            ids.add(json.loads(line)["id"])
        except (ValueError, KeyError):
            continue  # a torn last line from a killed run is simply redone
    return ids


def synthesize_set(out_dir: Path, sentences: list[str], voices: list[str], *, seed: int, prefix: str,
                   registry=None, progress: bool = True, limit: int | None = None) -> Path:
    """Synthesize ``sentences`` round-robin over ``voices`` into ``out_dir`` (resumable)."""
    import soundfile as sf
    from tqdm.auto import tqdm

    from ..models.registry import resolve
    from ..tts.synthesis import synthesize

    reg = resolve(registry)
    out_dir = Path(out_dir)
    (out_dir / "audio").mkdir(parents=True, exist_ok=True)
    manifest = out_dir / "manifest.jsonl"
    done = _done_ids(manifest)
    rng = random.Random(seed)
    plan = []
    for i, text in enumerate(sentences[:limit] if limit else sentences):
        voice = voices[(i + rng.randrange(len(voices))) % len(voices)]
        speed = round(rng.uniform(*SPEEDS), 2)
        plan.append((f"{prefix}-{i:05d}", text, voice, speed))
    todo = [p for p in plan if p[0] not in done]
    with open(manifest, "a", encoding="utf-8") as fh:
        for uid, text, voice, speed in tqdm(todo, desc=f"synthesize {prefix}", disable=not progress):
            result = synthesize(text, voice, speed=speed, registry=reg)
            audio16 = result.resampled(16_000)
            peak = float(np.max(np.abs(audio16))) or 1.0
            audio16 = audio16 / max(peak, 1.0)
            rel = f"audio/{uid}.flac"
            tmp = out_dir / f"audio/.{uid}.tmp.flac"
            sf.write(str(tmp), audio16, 16_000, subtype="PCM_16", format="FLAC")
            os.replace(tmp, out_dir / rel)
            words = result.word_timings()
            row = {"id": uid, "audio_filepath": rel, "text": text, "duration": round(len(audio16) / 16_000, 4),
                   "speaker": voice, "voice": voice, "speed": speed,
                   "words": [{"word": w, "start": round(float(s), 4), "end": round(float(e), 4)}
                             for w, s, e in zip(words["word"], words["start"], words["end"])]}
            fh.write(json.dumps(row) + "\n")
            fh.flush()
    return manifest


def make_data(root: Path, *, n_train: int = 1500, n_eval: int = 60, seed: int = 0, registry=None,
              eval_dir: Path | None = None, progress: bool = True) -> dict[str, Path]:
    """The whole data step: eval set (held-out voices and sentences) first, then training speech."""
    train_sents, eval_sents = split_sentences(n_train, n_eval, seed=seed)
    eval_manifest = synthesize_set(eval_dir or Path(root) / "eval", eval_sents, EVAL_VOICES, seed=seed + 7,
                                   prefix="eval", registry=registry, progress=progress)
    train_manifest = synthesize_set(Path(root) / "train", train_sents, TRAIN_VOICES, seed=seed + 3,
                                    prefix="train", registry=registry, progress=progress)
    return {"train": train_manifest, "eval": eval_manifest}
