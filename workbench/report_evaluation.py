"""The HTML report of an :class:`~workbench.evaluation.Evaluation` (used by ``workbench evaluate``)."""
from __future__ import annotations

import html

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
    from .plots.scoring import plot_speaker_wer, plot_system_scatter, plot_wer_histogram

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
