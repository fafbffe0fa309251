"""CodebookPanel: quantizer code usage of a pretraining model, and codes vs characters.

Analyse runs the engine once (``codes=True``; the paired CTC model once for frame labels);
the group selector, histogram order and comparison switch only redraw from those cached
analyses.  With a session, selecting an utterance shows its code sequence with the aligned
characters.
"""
from __future__ import annotations

import html
from collections.abc import Mapping
from pathlib import Path

import ipywidgets as widgets

from ..representations.codebook import CodebookUsage, CodeCharacters, code_characters, code_usage, paired_ctc_name
from ..errors import CorpusError, WorkbenchError
from ..representations.framelabels import labels_by_id
from .base import Panel, empty_state, set_figure, tidy
from .trust import model_note

DEFAULT_MANIFEST = Path(__file__).resolve().parents[2] / "datasets" / "kokoro-eval" / "manifest.jsonl"


def resolve_corpus(corpus, session=None):
    """A Corpus (or ``{name: Corpus}``) from what the panel was given, the session, or the default set."""
    from ..data.corpus import as_corpus

    if corpus is None and session is not None:
        corpus = getattr(session, "corpus", None)
    if corpus is None:
        if not DEFAULT_MANIFEST.exists():
            raise CorpusError(f"no corpus given and the default {DEFAULT_MANIFEST} is missing; pass corpus=")
        corpus = DEFAULT_MANIFEST
    if isinstance(corpus, Mapping):
        return {str(k): as_corpus(v) for k, v in corpus.items()}
    return as_corpus(corpus)


def _image() -> widgets.Image:
    return widgets.Image(format="png", layout=widgets.Layout(max_width="100%"))


class CodebookPanel(Panel):
    """Group selector, usage histograms, perplexity figures, code x character heatmap, comparisons.

    ``corpus``: a Corpus, a manifest path, or ``{name: corpus}`` to compare corpora.
    """

    title = "codebook"

    def __init__(self, corpus=None, model: str = "w2v2-tiny", *, registry=None, session=None) -> None:
        super().__init__(registry=registry, session=session)
        self._corpus_arg = corpus
        self.corpus = None
        self.analyses = None  # AnalysisResult, or {name: AnalysisResult} when comparing corpora
        self.ctc_analyses = None
        self.usage: CodebookUsage | None = None
        self.code_chars: CodeCharacters | None = None
        self.selected_utterance: str | None = None

        names = self.registry.names("pretraining")
        if model not in names:
            names = [model] + names
        self.model = widgets.Dropdown(options=names, value=model, description="model")
        compare = [("whole corpus", "none"), ("per speaker", "speaker"), ("per utterance", "utterance")]
        if isinstance(corpus, Mapping):
            compare.insert(1, ("per corpus", "corpus"))
        self.compare = widgets.Dropdown(options=compare, value="corpus" if isinstance(corpus, Mapping) else "speaker",
                                        description="compare")
        self.group = widgets.ToggleButtons(options=[("group 0", 0), ("group 1", 1), ("pair", "pair")], value=0,
                                           description="group")
        self.order = widgets.ToggleButtons(options=[("by index", "index"), ("by rank", "rank")], value="index",
                                           description="histogram")
        self.run_button = widgets.Button(description="Analyse", button_style="primary", icon="play")
        self.summary = widgets.HTML()
        self.histogram = _image()
        self.perplexity = _image()
        self.heatmap = _image()
        self.purest = widgets.HTML()
        self.comparison = widgets.HTML()
        self.sequence = _image()
        self.sequence_label = widgets.HTML()

        self.run_button.on_click(lambda _: self.start_run())
        self.group.observe(lambda _: self.guarded(self.draw_group), names="value")
        self.order.observe(lambda _: self.guarded(self._draw_histogram), names="value")
        self.compare.observe(lambda _: self.guarded(self.recount), names="value")
        self.model.observe(lambda _: self._stale(), names="value")

        tabs = widgets.Tab(children=[
            widgets.VBox([self.order, self.histogram]),
            widgets.VBox([self.perplexity, self.comparison]),
            widgets.VBox([self.heatmap, self.purest]),
            widgets.VBox([self.sequence_label, self.sequence]),
        ])
        for i, t in enumerate(["usage", "perplexity", "codes vs chars", "utterance"]):
            tabs.set_title(i, t)
        self.tabs = tabs
        self.empty = empty_state("Press Analyse to run the pretraining model over the corpus: code usage, "
                                 "perplexity, codes versus characters and the selected utterance's code "
                                 "sequence appear here.")
        self.model_note = model_note(self.registry, self.model)
        self.layout = widgets.VBox([
            widgets.HTML("<h3>Codebook</h3>"),
            self.model_note,
            widgets.HBox([self.model, self.compare, self.run_button]),
            self.progress_row.box,
            self.empty,
            self.group, self.status, self.summary, tabs,
        ])
        tidy(self.layout)
        if session is not None:
            session.observe(self._on_selected, "selected_utterance")
            session.observe(self._on_model, "pretraining_model")

    # ------------------------------------------------------------------ actions
    def run(self) -> CodebookUsage:
        """Analyse the corpus with the chosen model (cached engine) and draw everything."""

        self.corpus = resolve_corpus(self._corpus_arg, self.session)
        model = self.model.value
        self.set_status(f"analysing with {model} ...")
        corpora = self.corpus if isinstance(self.corpus, Mapping) else {None: self.corpus}
        results = {name: self.analyze_steps(c, model, codes=True) for name, c in corpora.items()}
        self.analyses = results if isinstance(self.corpus, Mapping) else results[None]
        self.code_chars, self.ctc_analyses = None, None
        note = ""
        try:
            ctc_name = paired_ctc_name(model, self.registry)
            if not self.registry.available_offline(ctc_name):
                raise WorkbenchError(f"the paired CTC model {ctc_name} is not available offline")
            ctc = {name: self.analyze_steps(c, ctc_name) for name, c in corpora.items()}
            self.ctc_analyses = ctc if isinstance(self.corpus, Mapping) else ctc[None]
            labels = {}
            for result in ctc.values():
                labels.update(labels_by_id(result))
            items = [a for r in results.values() for a in r]
            self.code_chars = code_characters(items, labels)
            self.code_chars.ctc_model = ctc_name
        except WorkbenchError as exc:
            note = f" Codes vs characters unavailable: {exc}"
        n_groups = next(a for r in results.values() for a in r.ok).codes.shape[1]
        options = [(f"group {g}", g) for g in range(n_groups)] + [("pair", "pair")]
        if list(self.group.options) != options:
            self.group.options = options
        self.recount(draw=False)
        self.redraw()
        self.empty.layout.display = "none"
        self.set_status(f"{self.usage.total.utterances} utterances, {self.usage.total.frames} frames.{note}",
                        kind="ok" if not note else "info")
        if self.selected_utterance:
            self.show_utterance(self.selected_utterance)
        return self.usage

    def recount(self, *, draw: bool = True) -> None:
        """Recompute usage for the comparison setting from the cached analyses (no forward pass)."""
        if self.analyses is None:
            return
        by = None if self.compare.value == "none" else self.compare.value
        source = self.analyses
        if by == "corpus" and not isinstance(source, Mapping):
            by = None
        if isinstance(source, Mapping) and by != "corpus":
            source = [a for r in source.values() for a in r]
        self.usage = code_usage(source, by=by)
        self.result = self.usage
        if draw:
            self.redraw()

    def redraw(self) -> None:
        if self.usage is None:
            return
        u = self.usage
        s = u.summary()
        self.summary.value = (
            f"<b>{html.escape(u.model)}</b>: {s['frames']} frames; perplexity (sum over {s['groups']} groups, "
            f"max {s['groups'] * s['codes_per_group']}): <b>hard {s['hard_perplexity_sum']:.1f}</b> "
            f"(the model's eval-mode codevector_perplexity) vs <b>soft {s['soft_perplexity_sum']:.1f}</b> "
            f"(mean softmax, as in training); {s['distinct_pairs']} of {s['possible_pairs']} code pairs used"
            + u.to_frame().to_html(index=False, float_format=lambda v: f"{v:.2f}", na_rep=""))
        from ..plots.representations import plot_perplexity

        set_figure(self.perplexity, plot_perplexity(u))
        self.comparison.value = (u.compare_frame().to_html(index=False, float_format=lambda v: f"{v:.3f}", na_rep="")
                                 if u.parts else "")
        self.draw_group()

    def draw_group(self) -> None:
        """The group-dependent figures: histogram, code x character heatmap, purest codes."""
        if self.usage is None:
            return
        self._draw_histogram()
        group = self.group.value
        if self.code_chars is not None:
            set_figure(self.heatmap, self.code_chars.plot(group=group))
            table = self.code_chars.to_frame().to_html(index=False, float_format=lambda v: f"{v:.3f}")
            purest = self.code_chars.purest(group, k=2).to_html(index=False, float_format=lambda v: f"{v:.2f}")
            self.purest.value = f"<b>NMI codes vs chars</b>{table}<b>purest codes per char</b>{purest}"
        else:
            self.purest.value = "<i>no paired CTC model: codes vs characters not shown</i>"

    def _draw_histogram(self) -> None:
        if self.usage is None:
            return
        group = self.group.value
        set_figure(self.histogram, self.usage.plot(group=0 if group == "pair" else group, order=self.order.value))

    def show_utterance(self, uid: str) -> bool:
        """Draw the code sequence of one analysed utterance with its aligned chars."""
        from ..representations.framelabels import frame_labels_for
        from ..plots.representations import plot_code_sequence

        self.selected_utterance = uid
        if self.analyses is None:
            return False
        results = self.analyses.values() if isinstance(self.analyses, Mapping) else [self.analyses]
        a = next((x for r in results for x in r if x.id == uid and x.ok), None)
        if a is None:
            self.sequence_label.value = f"<i>{html.escape(uid)} is not in the analysed corpus</i>"
            return False
        chars = None
        ctcs = (self.ctc_analyses.values() if isinstance(self.ctc_analyses, Mapping)
                else [self.ctc_analyses] if self.ctc_analyses is not None else [])
        c = next((x for r in ctcs for x in r if x.id == uid and x.ok), None)
        if c is not None:
            chars = frame_labels_for(c).chars[: a.num_frames]
        group = self.group.value if self.group.value != "pair" else 0
        set_figure(self.sequence, plot_code_sequence(a.codes[: len(chars) if chars is not None else None], chars,
                                                     group=group, frame_seconds=a.frame_seconds,
                                                     title=f"{uid}: {a.reference or ''}"))
        self.sequence_label.value = f"<b>{html.escape(uid)}</b> {html.escape(a.reference or '')}"
        return True

    # ------------------------------------------------------------------ session
    def _stale(self) -> None:
        if self.usage is not None:
            self.set_status("model changed: press Analyse")

    def _on_selected(self, change) -> None:
        if change.new:
            self.guarded(self.show_utterance, change.new)

    def _on_model(self, change) -> None:
        if change.new in self.model.options:
            self.model.value = change.new
