"""Evaluation reports: the HTML document of an evaluation, with its systems and alignments.

    ev = wb.evaluate(corpus, ["w2v2-tiny-ctc", "w2v2-tiny-ctc@int8"])    # workbench.evaluation
    build_evaluation_report(ev).save("report.html")                       # self-contained HTML

:func:`evaluation_report` lays out an evaluation's own figures (corpus figures with intervals,
paired tests, per-speaker tables, the worst utterances with diffs and audio, provenance);
:func:`build_evaluation_report` adds which systems ran (a model in one precision) and the forced
alignments of the worst utterances.  ``workbench evaluate``, ``report`` and ``demo`` build their
documents here.  This module only calls methods of the evaluation it is given: it never imports
:mod:`workbench.evaluation`, which sits above it.
"""
from __future__ import annotations

import html

from ..errors import WorkbenchError

from .report import Report


CORPUS_COLUMNS = ["system", "scored", "failed", "ref_words", "substitutions", "deletions", "insertions", "wer",
                  "wer_lo", "wer_hi", "mean_wer", "cer", "raw_wer", "sentence_error_rate"]
TEST_COLUMNS = ["a", "b", "utterances", "wer_a", "wer_b", "delta", "delta_lo", "delta_hi", "p_b_better", "mcnemar_p",
                "sign_p", "wilcoxon_p"]


def _pct(v) -> str:
    return "n/a" if v != v else f"{v:.2%}"  # NaN-safe


def evaluation_report(ev, *, title: str | None = None, worst: int = 10, audio: int = 3) -> Report:
    """Corpus figures (raw vs normalised), comparison, per-model speaker/error tables and figures,
    the worst utterances with coloured diffs and audio, error rows, provenance."""
    from ..plots.scoring import plot_speaker_wer, plot_system_scatter, plot_wer_histogram

    corpus = ev.corpus
    rep = Report(title or f"ASR evaluation on {corpus.name}",
                 subtitle=f"{len(corpus)} utterances, models: {', '.join(ev.models)}")
    first = ev.score
    rep.text(f"Text normalisation: `{first.normalizer}`. WER is pooled (all errors / all reference words) "
             "with a bootstrap 95% interval over utterances; the mean of per-utterance WER is shown next to it. "
             "`raw_wer` scores the texts as written (whitespace only) to show how much is spelling convention.")
    rep.heading("Corpus figures").table(ev.to_frame()[CORPUS_COLUMNS],
                                        caption="wer_lo/wer_hi: bootstrap 95% interval of the pooled WER")
    if corpus.problems:
        rep.text(f"{len(corpus.problems)} manifest row(s) could not be loaded and are not in the tables:")
        rep.table(corpus.problems_frame())
    if ev.comparison is not None:
        c = ev.comparison
        rep.heading("Comparison").text(c.summary().replace("\n", "\n\n"))
        rep.table(c.tests[TEST_COLUMNS], caption="paired tests against the baseline (first model): "
                  "bootstrap P(b better), McNemar on utterance correctness, sign test on error counts")
        rep.figure(plot_system_scatter(c), caption="per-utterance WER, baseline vs the second model")
    for name, score in ev.scores.items():
        rep.heading(f"Model {name}")
        rep.text(score.summary())
        if score.notes:
            rep.text("\n".join(f"- {n}" for n in score.notes))
        rep.figure(plot_wer_histogram(score), caption="per-utterance WER")
        rep.figure(plot_speaker_wer(score), caption="pooled WER per speaker with bootstrap 95% CI")
        rep.table(score.by_speaker(), caption="per speaker")
        rep.table(score.substitutions(top=15), caption="most frequent substitutions")
        rep.table(score.deletions(top=15), caption="most frequent deletions")
        rep.table(score.insertions(top=15), caption="most frequent insertions")
        rep.heading(f"Worst {worst} utterances", level=3)
        for k, (_, row) in enumerate(score.worst(worst).iterrows()):
            rep.html(f"<p><b>{html.escape(str(row['id']))}</b> ({html.escape(str(row['speaker'] or ''))}): "
                     f"WER {_pct(row['wer'])}, CER {_pct(row['cer'])}, S {row['substitutions']} "
                     f"D {row['deletions']} I {row['insertions']} of {row['ref_words']} words</p>")
            rep.html(score.diff(row["id"], html=True))
            if k < audio:
                try:
                    utt = corpus[row["id"]]
                    rep.audio(utt.load(16_000), 16_000)
                except Exception as exc:  # a player is optional; say why it is missing
                    rep.text(f"(audio not embedded: {exc})")
        if len(score.failed):
            rep.heading("Error rows (not scored)", level=3)
            rep.table(score.failed[["id", "speaker", "error"]])
    rep.provenance(models=ev.provenance.get("models", {}),
                   **{k: v for k, v in ev.provenance.items() if k not in ("models", "packages", "machine", "date")})
    return rep


def systems_table(evaluation):
    """One row per system: model, dtype, device, revision, source (from the evaluation's provenance)."""
    import pandas as pd

    described = evaluation.provenance.get("systems") or {
        name: {"model": name, "dtype": "float32", "device": "", "revision": rev, "source": ""}
        for name, rev in evaluation.provenance.get("models", {}).items()}
    return pd.DataFrame([{"system": name, **info} for name, info in described.items()],
                        columns=["system", "model", "dtype", "device", "revision", "source"])


def add_alignments(rep: Report, evaluation, *, system: str | None = None, worst: int = 3) -> Report:
    """Forced alignments (waveform, emissions with the path, blank probability) of the ``worst``
    utterances of ``system`` (default: the baseline), with the words' times and confidences and
    where each WER error sits."""
    from ..asr.alignment_errors import localize_errors
    from ..asr.alignment import forced_align
    from ..plots.alignment import plot_alignment_overview

    system = system or evaluation.models[0]
    score = evaluation[system]
    analyses = evaluation.analyses[system]
    rep.heading(f"Alignments of the {worst} worst utterances ({system})")
    rep.text("Forced alignment of the reference text to the model's emissions (Viterbi over the CTC trellis; "
             "frames of 20 ms). Words are coloured by their WER operation; a word's confidence is the mean "
             "posterior of its letters on the frames the path gives them.")
    for _, row in score.worst(worst).iterrows():
        uid = str(row["id"])
        try:
            analysis = analyses[uid]
            fa = forced_align(analysis, drop_unknown=True)
            errors = localize_errors(analysis, forced=fa)
            audio = evaluation.corpus[uid].load(analysis.sample_rate)
            rep.heading(f"{uid}: WER {row['wer']:.1%}", level=3)
            rep.html(f"<p>reference as written: <i>{html.escape(str(analysis.reference or ''))}</i><br>"
                     f"model heard: <i>{html.escape(analysis.transcript)}</i></p>")
            rep.html(score.diff(uid, html=True))
            rep.figure(plot_alignment_overview(fa, audio=audio, errors=errors),
                       caption=f"{uid}: forced alignment of the reference ({fa.summary()})")
            rep.table(fa.to_frame()[["word", "start", "end", "confidence", "low_confidence"]],
                      caption="aligned reference words (seconds)", float_format="{:.3f}")
            if len(errors):
                cols = [c for c in ("op", "ref", "hyp", "start", "end", "ref_confidence", "heard") if c in errors]
                rep.table(errors[cols], caption="where the errors sit", float_format="{:.3f}")
        except WorkbenchError as exc:  # one utterance that cannot be aligned never loses the others
            rep.text(f"{uid}: not aligned ({exc})")
        except Exception as exc:  # nor does a figure that fails to draw: the report says why
            rep.text(f"{uid}: alignment not drawn ({exc.__class__.__name__}: {exc})")
    return rep


def build_evaluation_report(evaluation, *, title: str | None = None, worst: int = 10, audio: int = 3,
                            alignments: int = 3) -> Report:
    """The self-contained HTML report of an evaluation: which systems, corpus figures with 95%
    intervals, paired tests, per-speaker tables, the ``worst`` utterances with diffs (``audio`` with a
    player) and the forced alignments of the ``alignments`` worst; provenance at the end."""
    rep = evaluation.report(title=title, worst=worst, audio=audio)
    intro = Report(rep.title)
    intro.heading("Systems").table(systems_table(evaluation), caption="each system is a model in one precision")
    rep.blocks[:0] = intro.blocks
    if alignments:
        add_alignments(rep, evaluation, worst=alignments)
    return rep

