"""Measure the demo checkpoints on the held-out set and write their model cards.

Figures (all on ``datasets/kokoro-eval``: voices and sentences never seen in training):
CTC WER/CER (greedy, default normaliser), forced-alignment word starts/ends vs the word
times implied by Kokoro's own predicted durations (the duration edges stored in the manifest, and
``kokoro.KPipeline``'s timestamps for the same durations, with an acoustic onset check of both),
beam search with ``demo-lm``, the demo round trip, and the pretraining model's codebook
usage (hard and soft perplexity per group, codes used, distinct pairs).
"""
from __future__ import annotations

import json
import platform
from datetime import date
from pathlib import Path

import numpy as np

from .average import RECORD as AVERAGE  # beside a checkpoint that is a weight average: its parts


def _norm_word(w: str) -> str:
    return "".join(c for c in w.upper() if c.isalpha() or c == "'")


def timing_errors(analyses, corpus, words: dict | None = None) -> dict:
    """Median/mean absolute word start and end differences (ms), forced alignment vs Kokoro.

    ``words`` (``{id: [{"word", "start", "end"}]}``) replaces the manifest's word times, e.g. with
    :func:`pipeline_words`; utterances missing from it are left out."""
    from ..asr.alignment import forced_align

    starts, ends, skipped = [], [], 0
    for a in analyses:
        if not a.ok or (words is not None and a.id not in words):
            continue
        ref = words[a.id] if words is not None else corpus[a.id].extra.get("words", [])
        kokoro = [w for w in ref if _norm_word(w["word"])]
        ali = forced_align(a)
        aligned = ali.words
        if [_norm_word(w["word"]) for w in kokoro] != [w.word for w in aligned]:
            skipped += 1
            continue
        starts += [abs(w.start - k["start"]) for w, k in zip(aligned, kokoro)]
        ends += [abs(w.end - k["end"]) for w, k in zip(aligned, kokoro)]
    s, e = np.array(starts) * 1000, np.array(ends) * 1000
    return {"words": int(s.size), "utterances_skipped": skipped,
            "start_median_ms": round(float(np.median(s)), 1) if s.size else None,
            "start_mean_ms": round(float(s.mean()), 1) if s.size else None,
            "start_within_60ms": round(float((s <= 60).mean()), 3) if s.size else None,
            "end_median_ms": round(float(np.median(e)), 1) if e.size else None}


def pipeline_words(corpus, registry=None, *, tolerance: float = 1e-3) -> tuple[dict, int]:
    """``({id: words with kokoro.KPipeline's timestamps}, utterances used)`` for a set Kokoro made:
    each row's text, voice and speed synthesized again.  Only rows whose new duration-edge word
    times equal the stored ones (within ``tolerance`` s) are used: the same durations give the
    same stamps, while a row that Kokoro now times differently (a duration a frame longer, as a
    later build can give) is never measured against times its audio does not have."""
    from ..tts.synthesis import synthesize

    out: dict = {}
    for u in corpus:
        extra = u.extra or {}
        stored = extra.get("words")
        if not extra.get("voice") or u.text is None or not stored:
            continue
        table = synthesize(u.text, extra["voice"], speed=float(extra.get("speed", 1.0)),
                           registry=registry).word_timings()
        same = len(table) == len(stored) and all(
            abs(a - w["start"]) <= tolerance and abs(b - w["end"]) <= tolerance
            for a, b, w in zip(table.start, table.end, stored))
        if same:
            out[u.id] = [{"word": w.word, "start": w.pipeline_start, "end": w.pipeline_end}
                         for w in table.itertuples()]
    return out, len(out)


def onset_check(registry=None) -> dict:
    """Median energy onset minus word start (ms) for both timestamp conventions (:mod:`workbench.tts.onsets`)."""
    from ..tts.onsets import ONSET_TEXT, ONSET_VOICES, onset_offsets

    table = onset_offsets(registry=registry)
    return {"words": len(table), "voices": list(ONSET_VOICES), "text": ONSET_TEXT,
            "edges_median_ms": round(float(table.vs_edges_ms.median()), 1),
            "pipeline_median_ms": round(float(table.vs_pipeline_ms.median()), 1)}


def measure(registry=None, *, corpus_path: Path | None = None) -> dict:
    """All figures of both cards as one dict."""
    from ..representations.codebook import code_usage
    from ..data.corpus import Corpus
    from ..asr.engine import analyze
    from ..models.registry import resolve
    from ..scoring.wer import score_corpus

    reg = resolve(registry)
    root = Path(__file__).resolve().parents[2]
    corpus = Corpus.load(corpus_path or root / "datasets" / "kokoro-eval" / "manifest.jsonl")
    ctc = analyze(corpus, "w2v2-tiny-ctc", registry=reg, progress=False)
    score = score_corpus({a.id: a.reference for a in ctc}, ctc.transcripts(),
                         speakers={u.id: u.speaker for u in corpus})
    by_voice = score.by_speaker()
    pre = analyze(corpus, "w2v2-tiny", registry=reg, codes=True, progress=False)
    usage = code_usage(pre)
    prose_path = root / "datasets" / "kokoro-prose" / "manifest.jsonl"
    prose = None
    if corpus_path is None and prose_path.exists():  # general-vocabulary sentences, held-out voices
        prose_corpus = Corpus.load(prose_path)
        prose_ctc = analyze(prose_corpus, "w2v2-tiny-ctc", registry=reg, progress=False)
        prose_score = score_corpus({a.id: a.reference for a in prose_ctc}, prose_ctc.transcripts())
        prose = {"utterances": len(prose_corpus), "minutes": round(sum(a.duration for a in prose_ctc) / 60, 2),
                 "wer": round(float(prose_score.wer), 4), "cer": round(float(prose_score.cer), 4)}
    lm = _lm_figures(ctc, score, reg) if corpus_path is None else None
    return {
        "prose": prose,
        "lm": lm,
        "eval_set": {"utterances": len(corpus), "minutes": round(sum(a.duration for a in ctc) / 60, 2),
                     "voices": sorted({u.speaker for u in corpus})},
        "ctc": {"wer": round(float(score.wer), 4), "cer": round(float(score.cer), 4),
                "wer_ci95": [round(float(x), 4) for x in score.wer_ci],
                "by_voice": by_voice.round(4).to_dict(orient="records") if hasattr(by_voice, "to_dict") else None},
        "alignment": timing_errors(ctc, corpus),
        **(_pipeline_alignment(ctc, corpus, reg) if corpus_path is None else {}),
        "codebook": usage.to_frame().drop(columns=["top_codes"], errors="ignore").round(2).to_dict(orient="records"),
    }


def _pipeline_alignment(ctc, corpus, reg) -> dict:
    """The alignment figures against ``kokoro.KPipeline``'s timestamps and the acoustic onset check;
    an error entry when Kokoro is missing."""
    from ..errors import WorkbenchError

    try:
        words, n = pipeline_words(corpus, reg)
        return {"alignment_pipeline": {**timing_errors(ctc, corpus, words=words), "resynthesized": n},
                "onsets": onset_check(reg)}
    except (WorkbenchError, ImportError) as exc:
        return {"alignment_pipeline": {"error": str(exc)}}


def _lm_figures(ctc, greedy_score, reg) -> dict | None:
    """Beam search + ``demo-lm`` on the held-out set, and the demo's synthesis round trip
    (its sentences x its voices) greedy and with the LM; an error entry when the LM or Kokoro is
    missing.  The LM decodings reuse the greedy runs' forward passes."""
    from ..asr.decoding import DecodeOptions, resolve_weights, score_decoded
    from ..errors import WorkbenchError

    try:
        options = resolve_weights(DecodeOptions(decoder="beam", lm="demo-lm"), reg)  # demo-lm's tuned weights
        beam_score = score_decoded(ctc, registry=reg, options=options)
    except (WorkbenchError, ImportError) as exc:  # kenlm/pyctcdecode not installed
        return {"error": str(exc)}
    out = {"decoder": f"beam (width {options.beam_width}) + demo-lm, alpha {options.alpha:g}, beta {options.beta:g}",
           "alpha": options.alpha, "beta": options.beta,
           "wer": round(float(beam_score.wer), 4),
           "cer": round(float(beam_score.cer), 4), "greedy_wer": round(float(greedy_score.wer), 4)}
    try:
        from ..tts.roundtrip import DEMO_SENTENCES, DEMO_VOICES, roundtrip

        trip = roundtrip(list(DEMO_SENTENCES), list(DEMO_VOICES), registry=reg, align=False)
    except (WorkbenchError, ImportError) as exc:  # Kokoro assets absent
        out["roundtrip"] = {"error": str(exc)}
        return out
    scores = {"greedy": trip.score, "lm": score_decoded(trip.analysis, registry=reg, options=options)}
    out["roundtrip"] = {"utterances": len(DEMO_SENTENCES) * len(DEMO_VOICES), "voices": list(DEMO_VOICES),
                        **{f"{k}_wer": round(float(t.wer), 4) for k, t in scores.items()},
                        **{f"{k}_cer": round(float(t.cer), 4) for k, t in scores.items()}}
    return out


#: How the shipped weights were actually produced (printed in the cards).  The recipe's
#: configuration in ``run.py`` is the final one; the shipped CTC weights come from a run that
#: was changed while it went, and these paragraphs say exactly how.
SHIPPED_HISTORY = {
    "w2v2-tiny": (
        "Trained once with the recipe's `PRETRAIN` configuration (600 steps, peak lr 5e-4) on the "
        "631 training utterances (36 min of speech, 24 American and British voices). The CPU was shared "
        "with other work during the run, so the wall time overstates the compute."),
    "w2v2-tiny-ctc": (
        "The shipped weights come from one continued run in three parts, all on the same 631 "
        "utterances, initialised from `w2v2-tiny`:\n\n"
        "1. 2,800 steps: peak lr 1e-3, 300 warm-up steps, cosine decay over 2,800 steps, dropout 0.1, "
        "speed perturbation +-10%.\n"
        "2. 1,400 more steps (to 4,200) resumed with the cosine restarted towards 8,000 steps and two "
        "augmentations added: 30% of batches padded with 5-50% extra zeros (no attention mask, as the "
        "engine batches group-norm models) and 20% of batches joined in pairs (long-form input).\n"
        "3. 2,400 steps from that state (`workbench train --stage ctc --init-from ...`): a fresh "
        "optimiser, peak lr 5e-4 with 50 warm-up steps and cosine decay, every dropout set to 0 (the model "
        "underfitted: at step 4,000 its CER was 33% on training utterances and 48% on held-out voices), same "
        "augmentations. "
        "A trial of this part with peak lr 2e-3 raised the loss within 250 steps and was discarded.\n\n"
        "Wall time: 151 min for the 6,600 CTC steps plus 27.5 min of pretraining, on a 2-core CPU that "
        "was shared with tests for much of it; alone, one CTC step takes about 1.1 s, so the CTC steps are "
        "about 2 h of compute and the whole recipe somewhat over the two-hour budget.\n\n"
        "What would close the gap to the quality bars: more voices and more, more varied training sentences "
        "(1,500 were planned, 631 synthesized): at the end the training loss was 0.08 while held-out "
        "voices stayed at 42% CER, "
        "so the model now overfits the voices and sentences it has heard; then dropout back on for a longer "
        "run, and a GPU (`device`) for the same recipe.\n\n"
        "A broad-vocabulary continuation (issue 16; `workbench/recipe/broad_run.py`: 12,000-word Kokoro, spliced "
        "and espeak-ng speech, CTC + an auxiliary phoneme-frame loss, feature encoder frozen) was trained for 700 "
        "steps (81 min on the shared 2-core CPU, 3.1 h of training speech loaded by the end) and did not beat "
        "these weights, so they stay. Greedy CER, decoded one utterance at a time, kokoro-eval / kokoro-prose: "
        "start 39.6% / 67.8%; step 200 58.6% / 71.9%; step 400 59.8% / 73.5%; step 600 56.0% / 69.7%; "
        "step 700 55.7% / 69.3%. On its own training speech it was still at 63% CER at step 400: it underfits, "
        "so more steps (a GPU) come before anything else."),
}


#: How a checkpoint of the broad recipe (:mod:`.broad_run`) was produced; chosen over
#: ``SHIPPED_HISTORY`` when the checkpoint's training log has auxiliary-loss entries.
BROAD_HISTORY = {
    "w2v2-tiny-ctc": (
        "This checkpoint (session 9) is the weight average, half each, of two checkpoints of one lineage "
        "(`python -m workbench.recipe.average`; the parts and their SHA-256 are in `average.json`): run 6, shipped "
        "before it, and the last step (9,112) of run 7, which continued run 6 (both described below; run 7's log "
        "is `training_log.json`, the first table below). Averaging a model with its own continuation is the idea "
        "of WiSE-FT and model soups (Wortsman et al. 2022), and ASR recipes average their last checkpoints the same "
        "way. Run 7 alone decoded better greedily but worse with `demo-lm` than run 6 (its posteriors are "
        "sharper); the average keeps run 7's greedy gain on the development set and decodes better with the LM "
        "than either part. It was chosen on the development set `datasets/kokoro-dev` alone, before any reported "
        "set was measured, among these candidates (greedy, and beam search + `demo-lm` with alpha/beta tuned for "
        "each candidate on the same set):\n\n"
        "| candidate (weights) | dev greedy WER / CER | dev WER with demo-lm (alpha / beta) |\n"
        "|---|---|---|\n"
        "| run 6 | 69.0% / 26.8% | 30.8% (0.8 / 5) |\n"
        "| run 6 x 0.6 + run 7 step 8,000 x 0.4 | 66.1% / 25.1% | 30.4% (0.5 / 2.5) |\n"
        "| run 6 x 0.5 + run 7 step 8,000 x 0.5 | 65.9% / 24.7% | 29.7% (1 / 7) |\n"
        "| run 6 x 0.4 + run 7 step 8,000 x 0.6 | 65.3% / 24.4% | 30.1% (1 / 7) |\n"
        "| run 6 x 0.25 + run 7 step 8,000 x 0.75 | 64.7% / 24.2% | 30.6% (1 / 7) |\n"
        "| run 7 step 8,000 (its lowest development CER) | 64.9% / 24.3% | 32.6% (1 / 10) |\n"
        "| run 6, run 7 steps 8,000 and 9,112, a third each | 65.9% / 24.6% | 29.9% (1 / 7) |\n"
        "| **run 6 x 0.5 + run 7 step 9,112 x 0.5 (this checkpoint)** | 66.5% / 24.7% | **28.7%** (1 / 7) |\n"
        "| run 7 step 9,112 | 66.5% / 24.7% | 31.0% (1.3 / 10) |\n\n"
        "Then measured on the reported sets, against run 6: kokoro-eval greedy WER / CER 65.0% / 24.0% (67.9% / "
        "25.5%), kokoro-prose CER 42.1% (43.2%), kokoro-eval with beam search + `demo-lm` 20.0% (19.8%: one word "
        "more of 545), the demo round trip with the LM 72.2% (70.8%: one word more of 72), forced-alignment word "
        "starts unchanged (65 / 32.5 ms). The averages of the other rows were not measured on the reported sets.\n\n"
        "Run 8 (session 9, not shipped; the first \"Not shipped\" table below): this checkpoint continued with "
        "run 7's settings (dropout 0.05, SpecAugment 15% / 5%, peak lr 3e-4, a fresh phoneme head ramped in over "
        "500 steps) for 80 minutes (7,637 steps, 0.63 s a step). Development CER went from 24.7% up to 27.8% at "
        "step 1,500, then down to 24.4% at step 7,000 (its lowest) and 24.6% at the last step. With `demo-lm` it "
        "repeated run 7's pattern: development WER 32.4% (step 7,000) and 32.6% (last), alpha/beta tuned for each, "
        "and, averaged half and half with this checkpoint, 29.9% and 29.7% (greedy CER 24.4% both), all above "
        "this checkpoint's 28.7%, so this checkpoint stays. On this CPU, another 80 minutes of the 3.14 M model now "
        "buys about 0.3 points of greedy development CER.\n\n"
        "Run 6 of the broad recipe (session 7; `python -m workbench.recipe.broad_run broad`, the exact commands "
        "are in the docstring of `workbench/recipe/broad_run.py`): run 4's checkpoint (git revision 57a1990, "
        "described next) deepened from 4 to 6 transformer layers without changing what it computes "
        "(`build.deepen`: each new layer a copy of the one before with its output projections zeroed; the same "
        "held-out scores at step 0), then trained 6,777 steps over all 26 data blocks with run 4's three losses, "
        "the phoneme head ramped in over 500 steps, peak lr 4e-4, 300 warm-up steps, cosine decay to 5% over 70 "
        "minutes of training (`--time-budget`), dropout 0.1, SpecAugment as run 4. New in run 6, an *online* "
        "source (`feature_train.FeatureSpliceStore`, weight 0.30 beside Kokoro / spliced / espeak-ng 0.40 / 0.15 / "
        "0.15): each of its batches is new word sequences cut from the Kokoro rows' cached conv features at "
        "Kokoro's word boundaries, 100-400 ms of the voice's own silence frames around them and 0-120 ms between "
        "words, so that the deeper model cannot learn its training sentences as wholes, as run 5 did. Of its "
        "evaluations every 500 steps (and the last, at 70 minutes), the one with the lowest development CER was "
        "kept: the last, step 6,777 (0.62 s a step on the idle 2-core CPU). Development CER went from 28.9% at "
        "step 0 up to 32.8% at step 1,500 while the re-warmed learning rate was high, then down to 26.8%; "
        "kokoro-eval 27.3% -> 25.5%, kokoro-prose 45.1% -> 43.2% (greedy, during training; the table \"Earlier: "
        "run 6\" below). Run 5, the same deepening on 12 blocks without the online source, never got back below "
        "its start. Unlike run 5, run 6 did not memorise: greedy CER on 40 seeded training rows per source "
        "(`training_sample`, all 26 blocks), Kokoro / spliced / espeak-ng, is 21.1 / 29.0 / 30.2% (run 4 on the "
        "same rows: 21.8 / 31.4 / 31.3%; run 5 fitted its rows to 11-15%), close to its held-out figures: it "
        "underfits, so more steps or capacity, not more regularisation, come next.\n\n"
        "Run 4 (shipped from 57a1990 to run 6): "
        "fine-tuning run 3's checkpoint (git revision 62fdaaa) with "
        "CTC plus two frame-level losses that use Kokoro's own predicted durations: an auxiliary head (weight 0.5, "
        "a linear layer on the last transformer layer, not part of the saved model) that classifies every 20 ms "
        "frame into one of 50 phoneme classes, and, new in run 4, a blank-in-silence loss on the CTC head "
        "(weight 0.5, `frames.silence_loss`): where the durations say nothing is spoken, at least 40 ms from any "
        "phoneme, the CTC head is asked for blank or a word gap. Run 3 had learned to say a sentence's first "
        "letter on the very first frame, in the leading silence, which put forced alignments' first words 300 ms "
        "early. The conv feature encoder is frozen and its output computed once per utterance "
        "(`workbench/recipe/feature_train.py`), so a step of up to 16 utterances / 64 s of audio takes about "
        "0.48 s on 2 cores. 7,500 steps, peak lr 6e-4, 300 warm-up steps, cosine decay to 5%, AdamW, grad-norm "
        "clip 5; dropout 0.05 (hidden, attention, feature projection; run 3 had none), SpecAugment as run 3 ended "
        "(30% of frames, 15% of the 192 channels in spans of 16); source weights Kokoro/spliced/espeak-ng "
        "0.50/0.35/0.15.\n\n"
        "Training speech (`workbench/recipe/broad.py`, seeded blocks 0-25, not committed; 11,700 utterances, "
        "13.1 h, 12,027 word types): Kokoro-82M saying word sequences drawn from the 12,000 most frequent English "
        "words that misaki's lexicons hold (plus 20% sentences of the old grammar, never held-out ones), by the 50 "
        "training voice packs and random two-voice blends at speeds 0.8-1.3 (2,600 utterances, 2.92 h; run 3 had "
        "1,064 / 1.19 h; Kokoro ran at about 1.8x real time on the 2 cores when nothing else ran in earlier "
        "sessions, 0.9x on average over them, and 3.3x on 2026-12-05, when all 26 blocks were made again for run 6 "
        "in 55 minutes); new word sequences spliced from that audio at Kokoro's word boundaries "
        "(5,200, 5.84 h, 420x real time); espeak-ng in 7 accents x 17 variants (3,900, 4.33 h, 140x real time). "
        "The held-out voices (af_nova, am_michael, bf_lily, bm_george) never occur in training.\n\n"
        "Every 500 steps each run was decoded greedily on kokoro-eval, kokoro-prose and the development set "
        "`datasets/kokoro-dev` (48 utterances in training voices: fresh grammar sentences and hand-written prose "
        "that no generator or LM saw); runs 4 and 6 kept the step with the lowest **development** CER, and this "
        "average was chosen on the development set too, so the reported sets played no part in choosing it "
        "(runs 1-3 chose on the mean of the two reported sets). "
        "`demo-lm`'s beam-search weights were then tuned for this checkpoint on the same development set "
        "(`python -m workbench.recipe.dev --tune`: alpha {alpha}, beta {beta}).\n\n"
        "Run 7 (session 8; not shipped alone, its last step is half of this checkpoint; the first table below): "
        "run 6 continued at the same size for a second schedule with less regularisation, since run 6 underfits: "
        "dropout 0.05 (run 6: 0.1), SpecAugment 15% of frames and 5% of channels (30% / 15%), peak lr 3e-4, a "
        "fresh phoneme head ramped in over 500 steps, the same losses, sources and weights, 98 minutes of training "
        "(9,112 steps, 0.65 s a step). Development CER went up to 29.9% at step 500, then down to 24.3% at step "
        "8,000 (its lowest), and the greedy figures improved: kokoro-eval WER / CER 64.9% / 24.2% (run 6: 67.9% / "
        "25.5%), kokoro-prose CER 42.0% (43.2%); alignment (65 / 32.5 ms) and the round trip with the LM (70.8%) "
        "did not move. But with beam search and `demo-lm` it is worse: on the development set, alpha/beta tuned "
        "for each model, WER 32.6% (step 8,000) and 31.0% (its last step, 9,112) against run 6's 30.8%, and on "
        "kokoro-eval 23.9% against 19.8% (the bar is 20%). Less regularisation made its posteriors sharper, which "
        "leaves the LM less to choose from: on the development set its mean entropy per frame is 0.22 nats (run 6: "
        "0.32; 0.33 / 0.48 on frames whose best token is not blank), and 55% of its frames give one token more "
        "than 0.99 (42%). Since the demo, the round trip and the bar decode with the LM, run 7 alone was not "
        "shipped; the average above was the way to keep its greedy gain. (The tuning grid now reaches beta 16: run "
        "7's best beta, 10, was its old edge; run 6's choice is the same on both grids.)\n\n"
        "Run 5 (session 6, not shipped; its evaluations are the second \"Not shipped\" table below): run 4's "
        "checkpoint deepened from 4 to 6 transformer layers without changing what it computes (`build.deepen`, "
        "3.14 M parameters; the same held-out scores at step 0), the phoneme head ramped in over 500 steps, peak "
        "lr 4e-4 decaying over 85 minutes (`--time-budget`), the same losses, dropout and source weights, over "
        "blocks 0-11 only (5,495 utterances, 6.1 h: the data folder was being regenerated). Stopped at step 3,775 "
        "after 59 min (25 of them on a CPU shared with the test suite). It fitted its training speech about twice "
        "as well as run 4 (greedy CER on 40 seeded training rows per source, Kokoro / spliced / espeak-ng: 11.3 / "
        "15.1 / 28.9%, run 4: 21.6 / 23.4 / 31.2%) and did worse on speech it never heard (step 3,500: kokoro-eval "
        "28.6%, kokoro-prose 47.0%, development 31.4%; run 4: 27.3 / 45.1 / 28.9%): on less than half of run 4's "
        "data the extra capacity went into memorising it. Deepening needs all of the data (or more).\n\n"
        "Run 3 (shipped before run 4): fine-tuned from the session-3 checkpoint (eb50966) over blocks 0-9 (4,564 "
        "utterances, 5.07 h) for 13,000 steps, peak lr 8e-4, source weights 0.45/0.40/0.15, no dropout; "
        "SpecAugment raised from 5% to 30% of frames (and 15% of channels) at step 5,400 when held-out CER had "
        "stalled; greedy CER kokoro-eval / kokoro-prose 35.5% / 53.3% at the end. Its evaluations are the last "
        "table below, after run 4's. Earlier broad runs, not shipped (greedy CER kokoro-eval / kokoro-prose, from "
        "39.6% / 67.8%): run 1, audio batches, encoder frozen, 700 steps in 81 min on a CPU shared with other "
        "work: 55.7% / 69.3%; run 2, audio batches, encoder trained, 225 steps in 46 min: 63.3% / 70.6% at step "
        "200. Both were slowed 3-10x by the shared CPU and fed zero-padded audio batches to a group-norm model "
        "that never sees padding at inference."),
}


EARLIER_RUNS = "earlier_runs.json"  # {"run 3": [its logged evaluations], ...} beside a checkpoint
#: Runs tried from the shipped checkpoint (or beside it) and not shipped: {"run 5 (...)": [evaluations]}
OTHER_RUNS = "other_runs.json"


def _eval_table(rows: list[dict]) -> str:
    sets = sorted({k for e in rows for k in e["eval"]})
    head = "| step | minutes | training hours loaded | " + " | ".join(f"{s} WER | {s} CER" for s in sets) + " |"
    lines = [head, "|" + "---|" * (3 + 2 * len(sets))]
    for e in rows:
        cells = [f"{e['eval'][s]['wer']:.1%} | {e['eval'][s]['cer']:.1%}" if s in e["eval"] else "- | -"
                 for s in sets]
        lines.append(f"| {e['step']} | {e.get('minutes', '')} | {e.get('hours', '')} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def experiments_table(folder: Path) -> str:
    """Markdown tables of the held-out evaluations logged during training (broad recipe logs): the
    shipped run's (``training_log.json``), the runs tried after it and not shipped (``other_runs.json``),
    and the earlier runs it continued from (``earlier_runs.json``: run name -> logged evaluations), newest
    first."""
    folder = Path(folder)
    log_path = folder / "training_log.json"
    log = json.loads(log_path.read_text()) if log_path.exists() else []
    own = "The run of this checkpoint's first part" if (folder / AVERAGE).exists() else "This checkpoint's run"
    runs = [(own, [e for e in log if e.get("eval")])]
    for file, label in ((OTHER_RUNS, "Not shipped"), (EARLIER_RUNS, "Earlier")):
        if (folder / file).exists():
            runs += [(f"{label}: {name}", [e for e in entries if e.get("eval")])
                     for name, entries in reversed(list(json.loads((folder / file).read_text()).items()))]
    runs = [(name, rows) for name, rows in runs if rows]
    if not runs:
        return ""
    parts = [f"{name}:\n\n{_eval_table(rows)}" if len(runs) > 1 else _eval_table(rows) for name, rows in runs]
    return ("Greedy decoding during training (one utterance at a time, letters and apostrophes compared "
            "upper-cased; the engine's batched figures above can differ slightly):\n\n" + "\n\n".join(parts))


def is_broad(folder: Path) -> bool:
    """True when the checkpoint's training log comes from the broad recipe (it logs ``aux``)."""
    log_path = Path(folder) / "training_log.json"
    return log_path.exists() and any("aux" in e for e in json.loads(log_path.read_text()))


def training_summary(folder: Path) -> dict:
    """Steps, wall minutes, last logged loss and parameter count from a checkpoint folder."""
    from safetensors import safe_open

    folder = Path(folder)
    log_path = folder / "training_log.json"
    log = json.loads(log_path.read_text()) if log_path.exists() else []
    params = 0
    config = json.loads((folder / "config.json").read_text()) if (folder / "config.json").exists() else {}
    with safe_open(str(folder / "model.safetensors"), "np") as fh:
        for key in fh.keys():
            params += int(np.prod(fh.get_slice(key).get_shape()))
    last = next((e for e in reversed(log) if "loss" in e), log[-1] if log else {})
    tail = [r["loss"] for r in log[-8:] if "loss" in r]
    return {"steps": last.get("step"), "wall_minutes": last.get("minutes"), "params": params,
            "layers": config.get("num_hidden_layers"), "width": config.get("hidden_size"),
            "final_loss_mean_of_last_8_logs": round(float(np.mean(tail)), 3) if tail else None}


def write_cards(figures: dict, *, checkpoints: Path, history: dict[str, str] | None = None) -> None:
    """README.md model cards + metrics.json next to the weights.

    ``history`` holds a free-text paragraph per model (how the shipped weights were actually
    trained, e.g. a resumed run), printed verbatim under "Training".
    """
    checkpoints = Path(checkpoints)
    history = history or {}
    training = {name: training_summary(checkpoints / name) for name in ("w2v2-tiny", "w2v2-tiny-ctc")}
    (checkpoints / "metrics.json").write_text(json.dumps({"measured": str(date.today()), "figures": figures,
                                                          "training": training}, indent=1) + "\n")
    common = (f"Measured {date.today()} on {platform.machine()} CPU, held-out set `datasets/kokoro-eval` "
              f"({figures['eval_set']['utterances']} utterances, {figures['eval_set']['minutes']} min, voices "
              f"{', '.join(figures['eval_set']['voices'])}: voices and sentences never seen in training). "
              "Re-measure with `workbench train --stage card`.")
    ctc, ali, prose = figures["ctc"], figures["alignment"], figures.get("prose")
    bars = {"kokoro-eval WER <= 35%": ctc["wer"] <= 0.35, "kokoro-eval CER <= 15%": ctc["cer"] <= 0.15,
            "median word start <= 60 ms (vs the duration edges)": (ali["start_median_ms"] or 1e9) <= 60}
    pipe, onsets = figures.get("alignment_pipeline") or {}, figures.get("onsets") or {}
    if pipe.get("start_median_ms") is not None:
        bars["median word start <= 60 ms (vs kokoro.KPipeline's timestamps)"] = pipe["start_median_ms"] <= 60
    pipe_rows = "\n".join(filter(None, [
        f"| the same vs `kokoro.KPipeline`'s timestamps for the same durations (3 frames earlier, spaces split; "
        f"the {pipe['resynthesized']} clips whose durations Kokoro reproduces today), median abs. difference | {pipe['start_median_ms']} ms "
        f"({pipe['words']} words; {pipe['start_within_60ms']:.0%} within 60 ms) |" if pipe.get("start_median_ms") is not None else "",
        f"| acoustic check, {onsets['words']} words after a pause ({len(onsets['voices'])} voices): energy onset minus "
        f"duration-edge start / minus KPipeline start, median | {onsets['edges_median_ms']} ms / "
        f"{onsets['pipeline_median_ms']} ms |" if "edges_median_ms" in onsets else ""]))
    if prose:
        bars["kokoro-prose CER <= 30%"] = prose["cer"] <= 0.30
    lm = figures.get("lm") or {}
    trip = lm.get("roundtrip") or {}
    if "wer" in lm:
        bars["kokoro-eval beam + demo-lm WER <= 20%"] = lm["wer"] <= 0.20
    if "lm_wer" in trip:
        bars["demo round trip with the LM WER <= 30%"] = trip["lm_wer"] <= 0.30
    lm_rows = "\n".join(filter(None, [
        f"| WER / CER with beam search + `demo-lm` ({lm['decoder']}) | {lm['wer']:.1%} / {lm['cer']:.1%} |"
        if "wer" in lm else "",
        f"| synthesis round trip of the demo's {trip['utterances']} sentences x voices ({', '.join(trip['voices'])}): "
        f"WER greedy / with `demo-lm` | {trip['greedy_wer']:.1%} / {trip['lm_wer']:.1%} |" if "lm_wer" in trip else ""]))
    bar_line = "; ".join(f"{k}: {'met' if v else 'NOT met'}" for k, v in bars.items())
    prose_row = (f"| general-vocabulary prose (`datasets/kokoro-prose`, {prose['utterances']} sentences, "
                 f"{prose['minutes']} min, same held-out voices): WER / CER | {prose['wer']:.1%} / {prose['cer']:.1%} |"
                 if prose else "")
    t_ctc, t_pre = training["w2v2-tiny-ctc"], training["w2v2-tiny"]
    by_voice = figures["ctc"].get("by_voice") or []
    broad = is_broad(checkpoints / "w2v2-tiny-ctc")
    if broad:
        lm_fig = figures.get("lm") or {}
        history = {**history, "w2v2-tiny-ctc": BROAD_HISTORY["w2v2-tiny-ctc"].format(
            alpha=f"{lm_fig['alpha']:g}" if "alpha" in lm_fig else "?",
            beta=f"{lm_fig['beta']:g}" if "beta" in lm_fig else "?")}
        about = ("**A demo model, not a real recogniser.** It has heard synthetic speech only: Kokoro-82M voices "
                 "(50 packs and blends) saying word sequences from a 12,000-word list and template sentences, and "
                 "espeak-ng. It exists so that transcripts, alignments and embeddings behave like a trained "
                 "model's offline; use `wav2vec2-base-960h` for real speech.")
        reproduce = ("Reproduce: the commands in the docstring of `workbench/recipe/broad_run.py` (data blocks "
                     "0-25, the development set, the earlier checkpoint, the `broad` stage, the LM weights; seeded "
                     "and resumable).")
    else:
        about = ("**A demo model, not a real recogniser.** It has heard synthetic speech only: a ~340-word "
                 "template grammar spoken by 24 Kokoro voices. It exists so that transcripts, alignments and "
                 "embeddings behave like a trained model's offline; use `wav2vec2-base-960h` for real speech.")
        reproduce = ("Reproduce: `workbench train --stage all --export` (seeded and resumable; the configuration "
                     "is `FINETUNE` in `workbench/recipe/run.py`).")
    experiments = experiments_table(checkpoints / "w2v2-tiny-ctc")
    average = checkpoints / "w2v2-tiny-ctc" / AVERAGE
    parts = json.loads(average.read_text())["parts"] if average.exists() else []
    trained = (f"The weight average of {len(parts)} checkpoints (`{AVERAGE}`, "
               "`python -m workbench.recipe.average`). Its first part's run: " if parts else "")
    for name, body in (
        ("w2v2-tiny-ctc", f"""# w2v2-tiny-ctc: the workbench's demo CTC checkpoint

A small `Wav2Vec2ForCTC` of the wav2vec2-base family (the same 7-layer conv feature encoder,
320x downsampling, 50 frames/s; {t_ctc['layers']} transformer layers of width {t_ctc['width']}; {t_ctc['params']:,} parameters) with
the exact wav2vec2-base-960h character vocabulary (32 tokens, `<pad>` = blank = 0, `|` = 4) and
feature-extractor settings (group norm, zero padding, no attention mask). Fine-tuned with CTC from
`w2v2-tiny` on synthetic speech (`workbench/recipe/`).

{about}

## Figures
{common}

| measure | value |
|---|---|
| WER (greedy, default normaliser) | {ctc['wer']:.1%} (95% CI {ctc['wer_ci95'][0]:.1%} to {ctc['wer_ci95'][1]:.1%}) |
| CER | {ctc['cer']:.1%} |
| forced-alignment word start vs Kokoro's own timings, median abs. difference | {ali['start_median_ms']} ms ({ali['words']} words; {ali['start_within_60ms']:.0%} within 60 ms) |
| word end, median abs. difference (Kokoro's ends can include a following pause) | {ali['end_median_ms']} ms |
{pipe_rows}
{prose_row}
{lm_rows}

By voice:

{_table(by_voice)}

Quality bars (issue 16): {bar_line}.

## Training
{trained}{t_ctc['steps']} CTC steps, {t_ctc['wall_minutes']} min wall clock on a 2-core CPU; mean loss of the last
logged steps {t_ctc['final_loss_mean_of_last_8_logs']}. The step-by-step log is `training_log.json`.

{history.get('w2v2-tiny-ctc', '')}

{experiments}

{reproduce}
"""),
        ("w2v2-tiny", f"""# w2v2-tiny: the workbench's demo self-supervised checkpoint

A small `Wav2Vec2ForPreTraining` (the wav2vec2-base conv feature encoder with 320x downsampling,
{t_pre['layers']} transformer layers of width {t_pre['width']}, a product quantizer with 2 groups x 320 codevectors;
{t_pre['params']:,} parameters) trained with the model's own contrastive + diversity loss (masks from
`_compute_mask_indices`, negatives from `_sample_negative_indices`, Gumbel temperature 2.0 to 0.5)
on Kokoro speech.

## Codebook usage on the held-out set
{common}

{_table(figures['codebook'])}

Hard perplexity: exp(entropy) of the argmax code distribution over all frames; soft: the model's own
`codevector_perplexity` on the same frames. A collapsed codebook has perplexity 1 per group; uniform
use of every code, 320.

## Training
{t_pre['steps']} steps, {t_pre['wall_minutes']} min wall clock on a 2-core CPU (2 s random crops, batches of 8).

{history.get('w2v2-tiny', '')}
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
