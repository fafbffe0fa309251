"""Measure the demo checkpoints on the held-out set and write their model cards.

Figures (all on ``datasets/kokoro-eval``: voices and sentences never seen in training):
CTC WER/CER (greedy, default normaliser), forced-alignment word starts/ends vs the word
times implied by Kokoro's own predicted durations, and the pretraining model's codebook
usage (hard and soft perplexity per group, codes used, distinct pairs).
"""
from __future__ import annotations

import json
import platform
from datetime import date
from pathlib import Path

import numpy as np


def _norm_word(w: str) -> str:
    return "".join(c for c in w.upper() if c.isalpha() or c == "'")


def timing_errors(analyses, corpus) -> dict:
    """Median/mean absolute word start and end differences (ms), forced alignment vs Kokoro."""
    from ..alignment import forced_align

    starts, ends, skipped = [], [], 0
    for a in analyses:
        if not a.ok:
            continue
        kokoro = [w for w in corpus[a.id].extra.get("words", []) if _norm_word(w["word"])]
        ali = forced_align(a)
        words = ali.words
        if [_norm_word(w["word"]) for w in kokoro] != [w.word for w in words]:
            skipped += 1
            continue
        starts += [abs(w.start - k["start"]) for w, k in zip(words, kokoro)]
        ends += [abs(w.end - k["end"]) for w, k in zip(words, kokoro)]
    s, e = np.array(starts) * 1000, np.array(ends) * 1000
    return {"words": int(s.size), "utterances_skipped": skipped,
            "start_median_ms": round(float(np.median(s)), 1) if s.size else None,
            "start_mean_ms": round(float(s.mean()), 1) if s.size else None,
            "start_within_60ms": round(float((s <= 60).mean()), 3) if s.size else None,
            "end_median_ms": round(float(np.median(e)), 1) if e.size else None}


def measure(registry=None, *, corpus_path: Path | None = None) -> dict:
    """All figures of both cards as one dict."""
    from ..codebook import code_usage
    from ..corpus import Corpus
    from ..engine import analyze
    from ..registry import resolve
    from ..scoring import score_corpus

    reg = resolve(registry)
    root = Path(__file__).resolve().parents[2]
    corpus = Corpus.load(corpus_path or root / "datasets" / "kokoro-eval" / "manifest.jsonl")
    ctc = analyze(corpus, "w2v2-tiny-ctc", registry=reg, progress=False)
    score = score_corpus({a.id: a.reference for a in ctc}, ctc.transcripts(),
                         speakers={u.id: u.speaker for u in corpus})
    by_voice = score.by_speaker()
    pre = analyze(corpus, "w2v2-tiny", registry=reg, codes=True, progress=False)
    usage = code_usage(pre)
    return {
        "eval_set": {"utterances": len(corpus), "minutes": round(sum(a.duration for a in ctc) / 60, 2),
                     "voices": sorted({u.speaker for u in corpus})},
        "ctc": {"wer": round(float(score.wer), 4), "cer": round(float(score.cer), 4),
                "wer_ci95": [round(float(x), 4) for x in score.wer_ci],
                "by_voice": by_voice.round(4).to_dict(orient="records") if hasattr(by_voice, "to_dict") else None},
        "alignment": timing_errors(ctc, corpus),
        "codebook": usage.to_frame().drop(columns=["top_codes"], errors="ignore").round(2).to_dict(orient="records"),
    }


def write_cards(figures: dict, *, checkpoints: Path, training: dict) -> None:
    """README.md model cards + metrics.json next to the weights."""
    (checkpoints / "metrics.json").write_text(json.dumps({"figures": figures, "training": training}, indent=1))
    common = (f"Measured {date.today()} on {platform.machine()} ({platform.processor() or 'cpu'}), "
              f"held-out set `datasets/kokoro-eval` ({figures['eval_set']['utterances']} utterances, "
              f"{figures['eval_set']['minutes']} min, voices {', '.join(figures['eval_set']['voices'])} — "
              "voices and sentences never seen in training).")
    ctc = figures["ctc"]
    ali = figures["alignment"]
    for name, body in (
        ("w2v2-tiny-ctc", f"""# w2v2-tiny-ctc — the workbench's demo CTC checkpoint

A small `Wav2Vec2ForCTC` of the wav2vec2-base family (same 7-layer conv feature encoder strides,
320x downsampling, 50 frames/s; {training.get('params_ctc', '?')} parameters) with the exact
wav2vec2-base-960h character vocabulary (32 tokens, `<pad>`=blank=0, `|`=4). Fine-tuned with CTC from
`w2v2-tiny` on synthetic speech made by Kokoro-82M (see `workbench/recipe/`).

**Not a real recogniser**: it knows a few hundred words of a template grammar spoken by Kokoro voices.
It exists so that transcripts, alignments and codebooks behave realistically offline.

## Figures
{common}

| measure | value |
|---|---|
| WER (greedy, default normaliser) | {ctc['wer']:.1%} (95% CI {ctc['wer_ci95'][0]:.1%}–{ctc['wer_ci95'][1]:.1%}) |
| CER | {ctc['cer']:.1%} |
| forced-alignment word start, median abs. diff to Kokoro's own timings | {ali['start_median_ms']} ms ({ali['words']} words; {ali['start_within_60ms']:.0%} within 60 ms) |
| word end, median abs. diff (ends include following pauses in Kokoro's timing) | {ali['end_median_ms']} ms |

Quality bars of issue #7: WER ≤ 25%, CER ≤ 10%, median start difference ≤ 60 ms.

## Training
{json.dumps(training.get('ctc', {}), indent=1)}

Reproduce: `workbench train --stage all --export` (seeded, resumable; see `workbench/recipe/run.py`).
"""),
        ("w2v2-tiny", f"""# w2v2-tiny — the workbench's demo self-supervised checkpoint

A small `Wav2Vec2ForPreTraining` (conv feature encoder with 320x downsampling, 4 transformer layers,
product quantizer with 2 groups x 320 codevectors) trained with the model's own contrastive + diversity loss
(masks from `_compute_mask_indices`, negatives from `_sample_negative_indices`) on Kokoro speech.

## Codebook usage on the held-out set
{common}

{_table(figures['codebook'])}

A collapsed codebook would have perplexity 1 per group; uniform use of all codes 320 per group.

## Training
{json.dumps(training.get('pretrain', {}), indent=1)}
"""),
    ):
        (checkpoints / name / "README.md").write_text(body)


def _table(rows) -> str:
    if not isinstance(rows, list) or not rows:
        return str(rows)
    cols = list(rows[0])
    lines = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    lines += ["| " + " | ".join(str(r[c]) for c in cols) + " |" for r in rows]
    return "\n".join(lines)
