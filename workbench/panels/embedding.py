"""EmbeddingPanel: 2-D maps of any layer's frames, coloured by label, with the layer-wise probe.

Analyse runs the engine once with ``layers='all'`` (and the paired CTC model once for labels
when the model is a pretraining one).  Moving the layer slider projects that layer (kept per
layer and method on the panel, and on disk); changing the colour or the filter only redraws.
No widget change runs the model again.

Selecting points without a browser: the x/y range sliders set a rectangle, "List points"
fills ``panel.selected_points`` and a dropdown of the utterances/words inside; "Open" sends
the choice to the session (``session.select(uid, (start, end))``).
"""
from __future__ import annotations

import html

import ipywidgets as widgets
import numpy as np

from ..representations.embeddings import (
    COLOR_BY,
    Embedding,
    FrameTable,
    error_map,
    frame_table,
    project,
    resolve_labels,
)
from ..errors import WorkbenchError
from .base import Panel, empty_state, set_figure, tidy
from .trust import model_note
from .codebook import _image, resolve_corpus


class EmbeddingPanel(Panel):
    """Model, layer slider, colour-by, label filter, region selection, probe curve and CKA."""

    title = "embedding"

    def __init__(self, corpus=None, model: str = "w2v2-tiny-ctc", *, registry=None, session=None,
                 method: str = "umap", subsample: int = 4000, seed: int = 0) -> None:
        super().__init__(registry=registry, session=session)
        self._corpus_arg = corpus
        self.corpus = None
        self.subsample = subsample
        self.seed = seed
        self.analyses = None
        self.label_analyses = None
        self.labels: dict = {}
        self.errors: dict = {}
        self.tables: dict[int, FrameTable] = {}
        self.embeddings: dict[tuple[int, str], Embedding] = {}
        self.embedding: Embedding | None = None
        self.highlight: np.ndarray | None = None
        self.selected_points = None
        self.probe = None
        self.cka = None
        self.opened: tuple[str, tuple[float, float]] | None = None

        names = self.registry.names("ctc") + self.registry.names("pretraining")
        if model not in names:
            names = [model] + names
        self.model = widgets.Dropdown(options=names, value=model, description="model")
        self.run_button = widgets.Button(description="Analyse", button_style="primary", icon="play")
        self.layer = widgets.IntSlider(value=0, min=0, max=1, description="layer", disabled=True,
                                       continuous_update=False)
        self.method = widgets.ToggleButtons(options=["umap", "pca"], value=method, description="map")
        self.color_by = widgets.Dropdown(options=list(COLOR_BY), value="char", description="colour by")
        self.label_filter = widgets.SelectMultiple(options=[], value=(), description="show only",
                                                   rows=6, layout=widgets.Layout(width="220px"))
        self.scatter = _image()
        self.x_range = widgets.FloatRangeSlider(value=(0.0, 1.0), min=0.0, max=1.0, step=0.01, description="x",
                                                continuous_update=False, readout_format=".2f")
        self.y_range = widgets.FloatRangeSlider(value=(0.0, 1.0), min=0.0, max=1.0, step=0.01, description="y",
                                                continuous_update=False, readout_format=".2f")
        self.select_button = widgets.Button(description="List points", icon="crosshairs")
        self.selection = widgets.HTML()
        self.open_choice = widgets.Dropdown(options=[], description="open")
        self.open_button = widgets.Button(description="Open", icon="external-link", disabled=True)
        self.probe_button = widgets.Button(description="Probe layers", icon="line-chart")
        self.probe_image = _image()
        self.cka_image = _image()
        self.probe_table = widgets.HTML()

        self.run_button.on_click(lambda _: self.start_run())
        self.layer.observe(lambda _: self.guarded(self.show), names="value")
        self.method.observe(lambda _: self.guarded(self.show), names="value")
        self.color_by.observe(lambda _: self.guarded(self._on_color), names="value")
        self.label_filter.observe(lambda _: self.guarded(self.redraw), names="value")
        self.select_button.on_click(lambda _: self.guarded(self.select_region))
        self.open_button.on_click(lambda _: self.guarded(self.open_selected))
        self.probe_button.on_click(lambda _: self.guarded(self.run_probe))

        selection = widgets.VBox([widgets.HTML("<b>select a region</b>"), self.x_range, self.y_range,
                                  self.select_button, self.selection,
                                  widgets.HBox([self.open_choice, self.open_button])])
        self.tabs = widgets.Tab(children=[
            widgets.HBox([self.scatter, widgets.VBox([self.label_filter, selection])]),
            widgets.VBox([self.probe_button, widgets.HBox([self.probe_image, self.cka_image]), self.probe_table]),
        ])
        self.tabs.set_title(0, "map")
        self.tabs.set_title(1, "probe")
        self.empty = empty_state("Press Analyse to run the model over the corpus (every layer): a 2-D map of "
                                 "its frames, coloured by character, appears here; pick a region to open its "
                                 "frames in the Alignment tab.")
        self.model_note = model_note(self.registry, self.model)
        self.layout = widgets.VBox([
            widgets.HTML("<h3>Embeddings</h3>"),
            self.model_note,
            widgets.HBox([self.model, self.run_button]),
            self.progress_row.box,
            self.empty,
            widgets.HBox([self.layer, self.method, self.color_by]),
            self.status, self.tabs,
        ])
        tidy(self.layout)
        if session is not None:
            session.observe(self._on_selected, "selected_utterance")
            session.observe(self._on_highlight, "highlight_frames")

    # ------------------------------------------------------------------ analysis
    def run(self) -> Embedding:
        """One engine call with every layer (cached), labels from the CTC alignment, then draw."""
        from ..representations.codebook import paired_ctc_name

        corpus = resolve_corpus(self._corpus_arg, self.session)
        if isinstance(corpus, dict):
            from ..data.corpus import Corpus

            corpus = Corpus([u for c in corpus.values() for u in c], name="+".join(corpus))
        self.corpus = corpus
        model = self.model.value
        self.set_status(f"analysing with {model} (all layers) ...")
        self.analyses = self.analyze_steps(corpus, model, layers="all")
        self.tables.clear()
        self.embeddings.clear()
        note = ""
        spec = self.registry.spec(model)
        self.label_analyses = self.analyses
        if spec.kind != "ctc":
            try:
                ctc_name = paired_ctc_name(model, self.registry)
                self.label_analyses = self.analyze_steps(corpus, ctc_name)
            except WorkbenchError as exc:
                self.label_analyses = None
                note = f" No character labels: {exc}"
        self.labels = resolve_labels(self.label_analyses, None) if self.label_analyses is not None else {}
        self.errors = error_map(self.label_analyses, self.labels) if self.label_analyses is not None else {}
        first = next(a for a in self.analyses if a.ok)
        layers = sorted(first.hidden_states)
        with self.layer.hold_trait_notifications():
            self.layer.min, self.layer.max = layers[0], layers[-1]
            self.layer.disabled = False
        if self.layer.value != layers[-1]:
            self.layer.value = layers[-1]  # triggers show()
        else:
            self.show()
        self.empty.layout.display = "none"
        self.set_status(f"{len(self.analyses.ok)} utterances, layers {layers[0]}..{layers[-1]}.{note}",
                        kind="ok" if not note else "info")
        return self.embedding

    def table(self, layer: int) -> FrameTable:
        """The labelled frame table of ``layer`` (built once per layer from the cached analyses)."""
        if layer not in self.tables:
            self.tables[layer] = frame_table(self.analyses, layer, labels=self.labels, errors=self.errors)
        return self.tables[layer]

    def show(self) -> Embedding | None:
        """Project the current layer with the current method (memoised) and draw it."""
        if self.analyses is None:
            return None
        key = (self.layer.value, self.method.value)
        if key not in self.embeddings:
            self.set_status(f"projecting layer {key[0]} with {key[1]} (UMAP takes a while the first time) ...")
            self.embeddings[key] = project(self.table(self.layer.value), method=self.method.value,
                                           subsample=self.subsample, seed=self.seed)
        self.embedding = self.embeddings[key]
        self.result = self.embedding
        self._fit_ranges()
        self._on_selection_state()
        self._refresh_filter()
        self.redraw()
        return self.embedding

    def redraw(self) -> None:
        if self.embedding is None:
            return
        keep = None
        if self.label_filter.value:
            from ..plots.representations import category_values

            values = category_values(self.embedding.labels, self.color_by.value)
            keep = np.isin(values, list(self.label_filter.value))
        fig = self.embedding.plot(color_by=self.color_by.value, highlight=self.highlight, keep=keep)
        set_figure(self.scatter, fig)

    def _on_color(self) -> None:
        self._refresh_filter()
        self.redraw()

    def _refresh_filter(self) -> None:
        if self.embedding is None:
            return
        from ..plots.representations import category_values

        values, counts = np.unique(category_values(self.embedding.labels, self.color_by.value), return_counts=True)
        options = [str(v) for _, v in sorted(zip(-counts, values))][:200]
        if list(self.label_filter.options) != options:
            with self.label_filter.hold_trait_notifications():
                self.label_filter.value = ()
                self.label_filter.options = options

    def _fit_ranges(self) -> None:
        xy = self.embedding.coords
        for slider, col in ((self.x_range, 0), (self.y_range, 1)):
            lo, hi = float(np.floor(xy[:, col].min())), float(np.ceil(xy[:, col].max()))
            hi = hi if hi > lo else lo + 1.0
            slider.max = max(slider.max, hi)  # widen first so every step stays valid
            slider.min = min(slider.min, lo)
            slider.value = (lo, hi)
            slider.min, slider.max = lo, hi
            slider.step = (hi - lo) / 200

    # ------------------------------------------------------------------ selection
    def select_region(self, x_range=None, y_range=None):
        """Points inside the x/y rectangle: fills ``selected_points`` and the open dropdown."""
        if self.embedding is None:
            raise WorkbenchError("nothing projected yet: press Analyse first")
        if x_range is not None:
            self.x_range.value = tuple(x_range)
        if y_range is not None:
            self.y_range.value = tuple(y_range)
        pts = self.embedding.points_in(self.x_range.value, self.y_range.value)
        self.selected_points = pts
        rows = []
        if len(pts):
            for (uid, word_index), g in pts.groupby(["utterance", "word_index"], sort=True):
                t0, t1 = self._word_span(uid, int(word_index), g)
                word = g["word"].iloc[0] or "(between words)"
                rows.append((f"{uid} · {word} ({len(g)} pts)", (uid, (t0, t1))))
        self.open_choice.options = rows
        self.open_button.disabled = not rows
        words = sum(1 for r in rows if "(between words)" not in r[0])
        self.selection.value = (f"{len(pts)} points from {pts['utterance'].nunique() if len(pts) else 0} "
                                f"utterances, {words} words")
        return pts

    def _word_span(self, uid: str, word_index: int, group) -> tuple[float, float]:
        """Seconds of a whole word (from its labels), or of the selected frames outside words."""
        a = self.analyses[uid]
        lab = self.labels.get(uid)
        if lab is not None and word_index >= 0:
            s, e = lab.word_frames(word_index)
        else:
            s, e = int(group["frame"].min()), int(group["frame"].max()) + 1
        return round(s * a.frame_seconds, 3), round(e * a.frame_seconds, 3)

    def open_selected(self) -> tuple[str, tuple[float, float]] | None:
        """Send the chosen utterance and span to the session (and keep it on ``panel.opened``)."""
        choice = self.open_choice.value
        if choice is None:
            return None
        uid, span = choice
        self.opened = (uid, span)
        if self.session is not None:
            self.session.select(uid, span)
        return self.opened

    def _on_selection_state(self) -> None:
        self.open_choice.options = []
        self.open_button.disabled = True
        self.selection.value = ""
        self.selected_points = None
        if self._highlight_spec is not None:
            self.highlight = self.embedding.mask(**self._highlight_spec)

    # ------------------------------------------------------------------ highlight (session)
    _highlight_spec: dict | None = None

    def highlight_frames(self, utterance: str | None, frames: tuple[int, int] | None = None) -> int:
        """Ring the points of ``utterance`` (optionally frames [start, end)); returns how many."""
        if utterance is None:
            self._highlight_spec, self.highlight = None, None
        else:
            self._highlight_spec = {"utterance": utterance, "frames": frames}
            self.highlight = self.embedding.mask(**self._highlight_spec) if self.embedding is not None else None
        self.redraw()
        return int(self.highlight.sum()) if self.highlight is not None else 0

    def _on_selected(self, change) -> None:
        self.guarded(self.highlight_frames, change.new)

    def _on_highlight(self, change) -> None:
        spec = change.new
        if not spec:
            return
        self.guarded(self.highlight_frames, spec.get("utterance"),
                     (int(spec["start_frame"]), int(spec["end_frame"])) if "start_frame" in spec else None)

    # ------------------------------------------------------------------ probe
    def run_probe(self):
        """Layer-wise probe and CKA on the cached hidden states (no forward pass)."""
        from ..representations.probe import cka_matrix, layer_probe

        if self.analyses is None:
            raise WorkbenchError("press Analyse first")
        if not self.labels:
            raise WorkbenchError("no character labels for this model (no paired CTC model); the probe needs them")
        self.set_status("probing every layer ...")
        self.probe = layer_probe(self.analyses, labels=self.labels, seed=self.seed)
        self.cka = cka_matrix(self.analyses, seed=self.seed)
        set_figure(self.probe_image, self.probe.plot())
        set_figure(self.cka_image, self.cka.plot())
        self.probe_table.value = self.probe.to_frame().to_html(index=False, float_format=lambda v: f"{v:.3f}")
        self.set_status(f"best layer {self.probe.best_layer}: {max(self.probe.accuracy):.1%} held-out accuracy "
                        f"(chance {self.probe.chance:.1%}, always '{html.escape(self.probe.majority)}')", kind="ok")
        return self.probe
