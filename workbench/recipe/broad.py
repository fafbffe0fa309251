"""Broad-vocabulary training speech in three sources, made in seeded, resumable blocks.

Each block ``j`` adds, into ``<root>/<source>/`` (16 kHz FLAC + ``manifest.jsonl``):

- ``kokoro``: Kokoro-82M speech of word sequences from :mod:`.vocabulary` (and some sentences
  of the recipe's grammar, never the held-out ones), over every training voice pack (the 54
  packs less the 4 held-out voices, non-English packs speaking English too) and random
  two-voice blends, at speeds 0.8-1.3; each row keeps word and phoneme spans.
- ``splice``: new word sequences cut from block ``j``'s Kokoro audio at Kokoro's own word
  boundaries (one voice per utterance, 0-120 ms pauses, 5 ms fades): many new sentences for
  no synthesis, with their phoneme spans moved along.
- ``espeak``: espeak-ng speech (7 English accents x 17 voice variants, varied rate and pitch)
  sweeping the whole word list: breadth of spelling-to-sound at ~500x real time, mixed with
  Kokoro speech, never alone; no phoneme spans (CTC only).

A row's id fixes its content (text, voice, speed and seed all follow from ``(seed, index)``),
so a killed run resumes where its manifests end and a rerun makes the same files.  Measured
rates are logged to ``<root>/timings.jsonl``.
"""
from __future__ import annotations

import io
import json
import os
import random
import shutil
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .frames import merge_marks
from .vocabulary import WordSampler, word_list

RATE = 16_000
SPEEDS = (0.8, 1.3)
ESPEAK_ACCENTS = ("en-us", "en-gb", "en-gb-scotland", "en-gb-x-gbclan", "en-gb-x-rp", "en-gb-x-gbcwmd", "en-029")
ESPEAK_VARIANTS = tuple(f"m{i}" for i in range(1, 8)) + tuple(f"f{i}" for i in range(1, 6)) + (
    "klatt", "klatt2", "klatt4", "croak", "whisperf")


@dataclass(frozen=True)
class BlockSizes:
    """Utterances per block and source (about 7, 14 and 9 minutes of speech)."""

    kokoro: int = 100
    splice: int = 200
    espeak: int = 150


def training_voices() -> list[str]:
    """Every Kokoro voice pack except the four held-out voices of ``datasets/kokoro-eval``."""
    from ..models.specs import KOKORO_VOICES

    from .data import EVAL_VOICES

    return [v for v in KOKORO_VOICES if v not in EVAL_VOICES]


def held_out_texts(skip: tuple[str, ...] = ()) -> set[str]:
    """Sentences of the committed held-out sets ``datasets/*`` (never used for training), lower-cased;
    ``skip``: set folder names to leave out."""
    root = Path(__file__).resolve().parents[2] / "datasets"
    out: set[str] = set()
    for manifest in root.glob("*/manifest.jsonl"):
        if manifest.parent.name in skip:
            continue
        for line in manifest.read_text(encoding="utf-8").splitlines():
            try:
                out.add(json.loads(line)["text"].strip().lower())
            except (ValueError, KeyError):
                continue
    return out


def _rng(seed: int, source: str, index: int) -> random.Random:
    return random.Random(f"{seed}/{source}/{index}")


class TextPlan:
    """Seeded texts in order: text ``i`` is the same whatever was made before (prefix-stable)."""

    def __init__(self, seed: int, *, sweep: float, grammar_share: float, vocab_size: int = 12_000) -> None:
        from .sentences import generate

        self.sampler = WordSampler(word_list(vocab_size), seed=seed, sweep=sweep)
        held_out = held_out_texts()
        self.grammar = [s for s in generate(20_000, seed=seed + 101) if s.strip().lower() not in held_out]
        self.grammar_share, self.rng, self.texts = grammar_share, random.Random(seed), []

    def __getitem__(self, i: int) -> str:
        while len(self.texts) <= i:
            if self.rng.random() < self.grammar_share:
                self.texts.append(self.grammar[len(self.texts) % len(self.grammar)])
            else:
                self.texts.append(self.sampler.sequence(self.rng.randint(4, 14)))
        return self.texts[i]


def _pick_voice(rng: random.Random, voices: list[str]) -> str:
    """A pack (English ones twice as likely) or, one time in four, a blend of two packs."""
    english = [v for v in voices if v[:1] in "ab"]
    if rng.random() < 0.25:
        a, b = rng.sample(voices, 2)
        if a[:1] not in "ab":
            a = rng.choice(english)
        w = round(rng.uniform(0.3, 0.7), 2)
        return f"{a}:{w},{b}:{round(1 - w, 2)}"
    return rng.choice(english if rng.random() < 0.67 else voices)


class _Writer:
    """Appends rows + FLAC files to ``<folder>``; knows which ids are done (torn lines redone)."""

    def __init__(self, folder: Path) -> None:
        self.folder = Path(folder)
        (self.folder / "audio").mkdir(parents=True, exist_ok=True)
        self.manifest = self.folder / "manifest.jsonl"
        self.done: set[str] = set()
        if self.manifest.exists():
            for line in self.manifest.read_text(encoding="utf-8").splitlines():
                try:
                    self.done.add(json.loads(line)["id"])
                except (ValueError, KeyError):
                    continue

    def write(self, uid: str, audio: np.ndarray, row: dict) -> dict:
        import soundfile as sf

        peak = float(np.max(np.abs(audio))) if len(audio) else 1.0
        audio = audio / max(peak, 1.0)
        rel = f"audio/{uid}.flac"
        tmp = self.folder / f"audio/.{uid}.tmp.flac"
        sf.write(str(tmp), audio, RATE, subtype="PCM_16", format="FLAC")
        os.replace(tmp, self.folder / rel)
        row = {"id": uid, "audio_filepath": rel, **row, "duration": round(len(audio) / RATE, 4)}
        with open(self.manifest, "a", encoding="utf-8") as fh:
            fh.write(json.dumps(row, ensure_ascii=False) + "\n")
        self.done.add(uid)
        return row

    def rows(self) -> list[dict]:
        out = []
        for line in self.manifest.read_text(encoding="utf-8").splitlines() if self.manifest.exists() else []:
            try:
                out.append(json.loads(line))
            except ValueError:
                continue
        return out


def kokoro_block(root: Path, block: int, *, seed: int, size: int, plan: TextPlan, registry=None) -> int:
    """Synthesize block ``block`` of the Kokoro source; returns how many utterances were made."""
    import workbench as wb

    reg = registry or wb.default_registry()
    writer, voices, made = _Writer(Path(root) / "kokoro"), training_voices(), 0
    for i in range(block * size, (block + 1) * size):
        uid = f"kokoro-{i:06d}"
        text = plan[i]
        if uid in writer.done:
            continue
        rng = _rng(seed, "kokoro", i)
        voice, speed = _pick_voice(rng, voices), round(rng.uniform(*SPEEDS), 2)
        result = wb.synthesize(text, voice, speed=speed, registry=reg)
        words = result.word_timings()
        phones = result.phoneme_timings()
        writer.write(uid, result.resampled(RATE).astype(np.float32), {
            "text": text, "speaker": voice, "voice": voice, "speed": speed, "source": "kokoro", "block": block,
            "words": [{"word": w, "start": round(float(s), 4), "end": round(float(e), 4)}
                      for w, s, e in zip(words["word"], words["start"], words["end"])],
            "phones": merge_marks(zip(phones["symbol"], phones["start"], phones["end"], phones["word"]))})
        made += 1
    return made


def spoken_word(word: str) -> str:
    """A word of a Kokoro row as a splice keeps it: its letters and apostrophes."""
    return "".join(c for c in word if c.isalpha() or c == "'")


def splice_text(words: list[str]) -> str:
    """The sentence of a spliced utterance: its words, capitalised, with a full stop."""
    text = " ".join(words)
    return text[:1].upper() + text[1:] + "."


def _word_pieces(row: dict, audio: np.ndarray, margin: float = 0.015) -> list[dict]:
    """Each spoken word of a Kokoro row as audio + its phoneme spans relative to the cut."""
    pieces = []
    for w in row["words"]:
        word = spoken_word(w["word"])
        if not word:
            continue
        lo = max(0.0, w["start"] - margin)
        hi = min(len(audio) / RATE, w["end"] + margin)
        spans = [[p, round(s - lo, 4), round(e - lo, 4)] for p, s, e in row["phones"]
                 if s >= w["start"] - 1e-6 and e <= w["end"] + 1e-6]
        pieces.append({"word": word, "audio": audio[int(lo * RATE):int(hi * RATE)].copy(), "phones": spans})
    return pieces


def splice_utterance(pieces: list[dict], rng: random.Random) -> tuple[np.ndarray, dict]:
    """Join word pieces with 0-120 ms pauses and 5 ms fades; returns audio and its row fields."""
    fade = int(0.005 * RATE)
    ramp = np.linspace(0.0, 1.0, fade, dtype=np.float32)
    parts = [np.zeros(int(rng.uniform(0.1, 0.4) * RATE), dtype=np.float32)]
    t = len(parts[0]) / RATE
    words, phones = [], []
    for p in pieces:
        a = p["audio"].astype(np.float32)
        if len(a) > 2 * fade:
            a[:fade] *= ramp
            a[-fade:] *= ramp[::-1]
        words.append({"word": p["word"], "start": round(t + (p["phones"][0][1] if p["phones"] else 0.0), 4),
                      "end": round(t + (p["phones"][-1][2] if p["phones"] else len(a) / RATE), 4)})
        phones += [[s, round(t + a0, 4), round(t + b0, 4)] for s, a0, b0 in p["phones"]]
        parts.append(a)
        gap = np.zeros(int(rng.uniform(0.0, 0.12) * RATE), dtype=np.float32)
        parts.append(gap)
        t += (len(a) + len(gap)) / RATE
    parts.append(np.zeros(int(rng.uniform(0.1, 0.4) * RATE), dtype=np.float32))
    return np.concatenate(parts), {"text": splice_text([w["word"] for w in words]), "words": words, "phones": phones}


def splice_block(root: Path, block: int, *, seed: int, size: int, kokoro_size: int) -> int:
    """New utterances from the words of Kokoro block ``block`` (needs that block complete)."""
    import soundfile as sf

    root = Path(root)
    source = [r for r in _Writer(root / "kokoro").rows() if r.get("block") == block]
    if len(source) < kokoro_size:
        raise RuntimeError(f"splice block {block} needs Kokoro block {block} complete ({len(source)} of "
                           f"{kokoro_size} utterances); run the kokoro source first")
    writer, made = _Writer(root / "splice"), 0
    by_voice: dict[str, list[dict]] = {}
    todo = [i for i in range(block * size, (block + 1) * size) if f"splice-{i:06d}" not in writer.done]
    if not todo:
        return 0
    for row in sorted(source, key=lambda r: r["id"]):
        audio, _ = sf.read(str(root / "kokoro" / row["audio_filepath"]), dtype="float32")
        by_voice.setdefault(row["voice"], []).extend(_word_pieces(row, audio))
    voices = sorted(v for v, p in by_voice.items() if len(p) >= 4)
    for i in todo:
        rng = _rng(seed, "splice", i)
        voice = rng.choice(voices)
        pool = by_voice[voice]
        pieces = rng.sample(pool, min(len(pool), rng.randint(5, 14)))
        audio, fields = splice_utterance(pieces, rng)
        writer.write(f"splice-{i:06d}", audio, {**fields, "speaker": voice, "voice": voice, "source": "splice",
                                                "block": block})
        made += 1
    return made


def espeak_binary() -> str:
    """The espeak-ng program (Debian package ``espeak-ng``), or an error saying how to get it."""
    found = shutil.which("espeak-ng")
    if found is None:
        raise FileNotFoundError("espeak-ng not found on PATH: apt-get install -y espeak-ng "
                                "(the PyPI espeakng-loader ships the library but no program)")
    return found


def espeak_say(text: str, voice: str, *, rate: int, pitch: int) -> np.ndarray:
    """espeak-ng speech of ``text`` as 16 kHz float32 (text on stdin, so it is never an option)."""
    import soundfile as sf
    import soxr

    wav = subprocess.run([espeak_binary(), "-v", voice, "-s", str(rate), "-p", str(pitch), "--stdout"],
                         input=text.encode(), capture_output=True, check=True).stdout
    audio, sr = sf.read(io.BytesIO(wav), dtype="float32")
    return soxr.resample(audio, sr, RATE).astype(np.float32)


def espeak_block(root: Path, block: int, *, seed: int, size: int, plan: TextPlan) -> int:
    """Block ``block`` of the espeak-ng source."""
    writer, made = _Writer(Path(root) / "espeak"), 0
    for i in range(block * size, (block + 1) * size):
        uid = f"espeak-{i:06d}"
        text = plan[i]
        if uid in writer.done:
            continue
        rng = _rng(seed, "espeak", i)
        voice = f"{rng.choice(ESPEAK_ACCENTS)}+{rng.choice(ESPEAK_VARIANTS)}"
        rate, pitch = rng.randint(135, 215), rng.randint(25, 75)
        audio = espeak_say(text, voice, rate=rate, pitch=pitch)
        writer.write(uid, audio, {"text": text, "speaker": voice, "voice": voice, "rate": rate, "pitch": pitch,
                                  "source": "espeak", "block": block})
        made += 1
    return made


def _log(root: Path, entry: dict) -> None:
    entry = {"time": time.strftime("%Y-%m-%dT%H:%M:%S"), **entry}
    with open(Path(root) / "timings.jsonl", "a", encoding="utf-8") as fh:
        fh.write(json.dumps(entry) + "\n")
    print(json.dumps(entry), flush=True)


def make_broad_data(root: Path, *, blocks: int, seed: int = 0, sizes: BlockSizes = BlockSizes(),
                    sources: tuple[str, ...] = ("kokoro", "splice", "espeak"), registry=None) -> dict:
    """Make (or finish) blocks ``0..blocks-1`` of every source, logging each stage's rate."""
    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    kokoro_plan = TextPlan(seed, sweep=0.5, grammar_share=0.2)
    espeak_plan = TextPlan(seed + 1, sweep=0.9, grammar_share=0.1)
    made = {s: 0 for s in sources}
    for block in range(blocks):
        for source in sources:
            t0 = time.time()
            if source == "kokoro":
                n = kokoro_block(root, block, seed=seed, size=sizes.kokoro, plan=kokoro_plan, registry=registry)
            elif source == "splice":
                n = splice_block(root, block, seed=seed, size=sizes.splice, kokoro_size=sizes.kokoro)
            elif source == "espeak":
                n = espeak_block(root, block, seed=seed, size=sizes.espeak, plan=espeak_plan)
            else:
                raise ValueError(f"unknown source {source!r}; choose from kokoro, splice, espeak")
            if n:
                rows = [r for r in _Writer(root / source).rows() if r.get("block") == block]
                audio = sum(r["duration"] for r in rows)
                wall = time.time() - t0
                _log(root, {"source": source, "block": block, "utterances": n, "wall_s": round(wall, 1),
                            "audio_s": round(audio, 1), "x_real_time": round(audio / max(wall, 1e-9), 2)})
            made[source] += n
    return made


def summary(root: Path) -> dict:
    """Utterances, hours, voices and word types per source (and in all) of a broad data folder."""
    from .vocabulary import word_types

    out, texts, hours = {}, [], 0.0
    for source in ("kokoro", "splice", "espeak"):
        rows = _Writer(Path(root) / source).rows() if (Path(root) / source).exists() else []
        h = sum(r["duration"] for r in rows) / 3600
        out[source] = {"utterances": len(rows), "hours": round(h, 3), "voices": len({r["voice"] for r in rows}),
                       "word_types": len(word_types(r["text"] for r in rows))}
        texts += [r["text"] for r in rows]
        hours += h
    out["all"] = {"utterances": sum(v["utterances"] for v in out.values()), "hours": round(hours, 3),
                  "word_types": len(word_types(texts))}
    return out
