"""AlignmentPanel: see and hear where every word (and every WER error) of an utterance sits.

Layout: utterance dropdown, forced/greedy and word/char toggles, a time-range zoom slider;
one figure (waveform with segments coloured by WER operation, emissions with the path, blank
probability); one button per word coloured by its WER operation (substitution orange,
deletion red, insertion purple, low confidence outlined) — clicking one plays just that word
and sets ``panel.selected_word``; the alignment summary and the error table.

State lives on the panel: ``panel.analysis``, ``panel.result`` (the :class:`Alignment`),
``panel.errors`` (the :func:`~workbench.asr.alignment_errors.localize_errors` table),
``panel.selected_word``, ``panel.segment`` (the audio samples last played).  Analyses come
from ``engine.analyze`` (cached: switching utterances or modes never reruns the model).
With a session it follows ``selected_utterance``, ``selected_word`` (e.g. an error clicked in
the transcribe panel: zoom to that word and play it) and ``selected_span``, and writes
``selected_word`` when a word button is clicked.
"""
from __future__ import annotations

import html

import ipywidgets as widgets
import numpy as np

from ..data.corpus import Corpus
from ..errors import WorkbenchError
from .base import Panel, download_link, set_figure, tidy, wav_bytes
from .trust import model_badges


def _txt(value) -> str:
    """A word cell: empty (None/NaN: an insertion has no reference word) shows as a dash."""
    return "—" if value is None or (isinstance(value, float) and value != value) or value == "" else str(value)

_BUTTON_STYLE = {"substitute": "warning", "delete": "danger", "insert": "info", "equal": ""}
_MARGIN_S = 0.15


class AlignmentPanel(Panel):
    """Forced or greedy CTC alignment of one utterance at a time, with clickable, playable words."""

    title = "Alignment"

    def __init__(self, analysis_or_corpus=None, model: str = "w2v2-tiny-ctc", *, registry=None, session=None,
                 star: bool = False, confidence_threshold: float = 0.5) -> None:
        super().__init__(registry=registry, session=session)
        from ..asr.engine import AnalysisResult, UtteranceAnalysis

        self.model = model
        self.star = star
        self.confidence_threshold = confidence_threshold
        self.corpus: Corpus | None = None
        self._analyses: dict[str, UtteranceAnalysis] = {}
        source = analysis_or_corpus
        if source is None and session is not None:
            source = getattr(session, "corpus", None)
            model = getattr(session, "asr_model", None) or model
            self.model = model
        if isinstance(source, UtteranceAnalysis):
            self._analyses[source.id] = source
            self.model = source.model
        elif isinstance(source, AnalysisResult):
            self._analyses.update({a.id: a for a in source})
            self.model = source.model
            self.corpus = source.corpus
        elif isinstance(source, Corpus):
            self.corpus = source
        elif source is not None:
            raise WorkbenchError(f"AlignmentPanel takes an UtteranceAnalysis, an AnalysisResult or a Corpus, "
                                 f"not {type(source).__name__}")
        self.analysis = None
        self.result = None
        self.errors = None
        self.greedy = None
        self.selected_word: dict | None = None
        self.segment: np.ndarray | None = None
        self._audio: np.ndarray | None = None
        self._own_word: dict | None = None
        self._busy = False  # widget values being set programmatically: no redraw
        self._defer = False  # a zoom follows at once: draw only then

        ids = self._ids()
        self.utterance = widgets.Dropdown(options=ids, value=None, description="utterance",
                                          layout=widgets.Layout(width="320px"))
        self.mode = widgets.ToggleButtons(options=[("forced", "forced"), ("greedy", "greedy")], value="forced",
                                          description="alignment", style={"button_width": "70px"})
        self.view = widgets.ToggleButtons(options=[("words", "word"), ("chars", "char")], value="word",
                                          description="segments", style={"button_width": "60px"})
        self.zoom = widgets.FloatRangeSlider(value=(0.0, 1.0), min=0.0, max=1.0, step=0.01, description="time (s)",
                                             continuous_update=False, readout_format=".2f",
                                             layout=widgets.Layout(width="640px"))
        self.reset_zoom = widgets.Button(description="whole utterance", icon="expand",
                                         layout=widgets.Layout(width="auto"))
        self.figure = widgets.Image(format="png", layout=widgets.Layout(max_width="100%"))
        self.words_box = widgets.HBox(layout=widgets.Layout(flex_flow="row wrap"))
        self.audio = widgets.Audio(value=b"", format="wav", autoplay=False, loop=False)
        self.info = widgets.HTML()
        self.error_table = widgets.HTML()
        self.downloads = widgets.HTML()
        self.model_note = widgets.HTML(model_badges(self.registry, [self.model]) if self.model else "")

        self.utterance.observe(lambda ch: self.guarded(self.show, ch["new"]) if ch["new"] else None, "value")
        self.mode.observe(lambda _: self.guarded(self._realign), "value")
        self.view.observe(lambda _: self.guarded(self._redraw), "value")
        self.zoom.observe(lambda _: self.guarded(self._redraw), "value")
        self.reset_zoom.on_click(lambda _: self.set_zoom(0.0, self.zoom.max))
        if session is not None:
            session.observe(self._on_session_utterance, "selected_utterance")
            session.observe(self._on_session_word, "selected_word")
            session.observe(self._on_session_span, "selected_span")
            session.observe(self._on_session_corpus, "corpus")

        self.layout = widgets.VBox([
            widgets.HTML(f"<h3>{self.title}</h3>"),
            self.model_note,
            widgets.HBox([self.utterance, self.mode, self.view]),
            widgets.HBox([self.zoom, self.reset_zoom]),
            self.status,
            self.figure,
            self.words_box,
            self.audio,
            self.info,
            self.error_table,
            self.downloads,
        ])
        tidy(self.layout)
        first = (session.selected_utterance if session is not None and session.selected_utterance in ids
                 else (ids[0] if ids else None))
        if first is not None:
            self.utterance.value = first

    # ------------------------------------------------------------------ data
    def _ids(self) -> list[str]:
        if self.corpus is not None:
            return self.corpus.ids()
        return list(self._analyses)

    def analysis_for(self, uid: str):
        """The cached analysis of ``uid`` (the engine runs the model only if it never saw that audio)."""
        if uid not in self._analyses:
            if self.corpus is None:
                raise WorkbenchError(f"no analysis of {uid!r} and no corpus to analyse it from")
            from ..asr.engine import analyze

            result = analyze(self.corpus.subset([uid]), self.model, registry=self.registry, progress=False)
            self._analyses[uid] = result[uid]
        a = self._analyses[uid]
        if not a.ok:
            raise WorkbenchError(f"{uid}: the analysis failed: {a.error}")
        return a

    def _load_audio(self, analysis) -> np.ndarray | None:
        try:
            if self.corpus is not None and analysis.id in self.corpus.ids():
                return self.corpus[analysis.id].load(analysis.sample_rate)
            if analysis.audio_path:
                from ..data.audio import load_audio

                return load_audio(analysis.audio_path, sample_rate=analysis.sample_rate)
        except WorkbenchError as exc:
            self.set_status(f"no audio for {analysis.id}: {exc}", kind="error")
        return None

    # ------------------------------------------------------------------ actions
    def show(self, uid: str) -> None:
        """Show utterance ``uid`` (as picking it in the dropdown does)."""
        if self.utterance.value != uid:
            if uid not in self.utterance.options:
                raise WorkbenchError(f"no utterance {uid!r} in this panel's corpus")
            self.utterance.value = uid  # the observer comes back here
            return
        self.analysis = self.analysis_for(uid)
        self._audio = self._load_audio(self.analysis)
        self.selected_word = None
        self.segment = None
        self.audio.value = b""
        duration = self.analysis.duration
        self._busy = True
        try:
            self.zoom.max = max(duration, 0.01)
            self.zoom.value = (0.0, self.zoom.max)
        finally:
            self._busy = False
        self._realign()
        if self.session is not None and self.session.selected_utterance != uid:
            self.session.select(uid)

    def _realign(self) -> None:
        from ..asr.alignment_errors import localize_errors
        from ..asr.alignment import forced_align, greedy_alignment

        a = self.analysis
        if a is None:
            return
        self.greedy = greedy_alignment(a, confidence_threshold=self.confidence_threshold)
        forced = None
        self.errors = None
        if a.reference is not None:
            try:
                forced = forced_align(a, star=self.star, drop_unknown=True,
                                      confidence_threshold=self.confidence_threshold)
                self.errors = localize_errors(a, forced=forced, greedy=self.greedy, include_correct=True)
            except WorkbenchError as exc:
                self.set_status(str(exc), kind="error")
        if self.mode.value == "forced" and forced is None:
            self.set_status(f"{a.id}: no forced alignment (no reference text or it does not fit); showing greedy",
                            kind="error")
        self.result = forced if (self.mode.value == "forced" and forced is not None) else self.greedy
        self._fill_words()
        self._fill_info()
        self._redraw()

    def _word_ops(self) -> dict[int, str]:
        """WER operation of each word of the current alignment (by word index)."""
        if self.errors is None or not len(self.errors):
            return {}
        col = "ref_index" if self.result.mode == "forced" else "hyp_index"
        sub = self.errors[self.errors[col].notna()]
        return {int(i): op for i, op in zip(sub[col], sub["op"])}

    def _fill_words(self) -> None:
        ops = self._word_ops()
        buttons = []
        for w in self.result.words:
            op = ops.get(w.index, "equal")
            b = widgets.Button(description=w.word, button_style=_BUTTON_STYLE.get(op, ""),
                               tooltip=f"{w.start:.2f}-{w.end:.2f} s, confidence {w.confidence:.2f}"
                                       + (f", {op}" if op != "equal" else "")
                                       + (" (low confidence)" if w.low_confidence else ""),
                               layout=widgets.Layout(width="auto",
                                                     border="2px dashed #c62828" if w.low_confidence else ""))
            b.on_click(lambda _, i=w.index: self.guarded(self.play_word, i))
            buttons.append(b)
        if self.result.mode == "forced" and self.errors is not None:
            for _, row in self.errors[self.errors["op"] == "insert"].iterrows():
                b = widgets.Button(description=f"+{row['hyp']}", button_style="info",
                                   tooltip=f"inserted by the model at {row['start']:.2f}-{row['end']:.2f} s",
                                   layout=widgets.Layout(width="auto"))
                b.on_click(lambda _, s=row["start"], e=row["end"]: self.guarded(self.play_span, s, e))
                buttons.append(b)
        self.words_box.children = buttons

    def _fill_info(self) -> None:
        r = self.result
        parts = [html.escape(r.summary())]
        if self.analysis.reference is not None:
            parts.append(f"reference: <i>{html.escape(self.analysis.reference)}</i>")
        parts.append(f"model heard: <i>{html.escape(self.analysis.transcript)}</i>")
        self.info.value = "<br>".join(parts)
        if self.errors is not None:
            errs = self.errors[self.errors["op"] != "equal"]
            if len(errs):
                rows = "".join(
                    f"<tr><td>{html.escape(str(e['op']))}</td><td>{html.escape(_txt(e['ref']))}</td>"
                    f"<td>{html.escape(_txt(e['hyp']))}</td><td>{e['start']:.2f}-{e['end']:.2f}</td>"
                    f"<td>{e['blank_prob']:.2f}</td><td>{html.escape(str(e['heard']))}</td></tr>"
                    for _, e in errs.iterrows())
                self.error_table.value = (
                    "<table><tr><th>op</th><th>reference</th><th>hypothesis</th><th>time (s)</th>"
                    f"<th>blank p</th><th>model emitted there</th></tr>{rows}</table>")
            else:
                self.error_table.value = "<i>no WER errors</i>"
        else:
            self.error_table.value = ""
        self.downloads.value = self._downloads()

    def _downloads(self) -> str:
        """TextGrid, CTM and JSON of the shown alignment as download links (written to a temporary folder)."""
        import tempfile
        from pathlib import Path

        links = []
        stem = "".join(c if c.isalnum() or c in "-_." else "_" for c in str(self.analysis.id)) or "alignment"
        with tempfile.TemporaryDirectory() as tmp:
            for suffix, mime in ((".TextGrid", "text/plain"), (".ctm", "text/plain"), (".json", "application/json")):
                try:
                    path = self.result.save(Path(tmp) / f"{stem}{suffix}")
                except WorkbenchError:
                    continue
                links.append(download_link(Path(path).read_bytes(), Path(path).name, mime=mime))
        return "<div style='font-size:90%'>download this alignment: " + "".join(links) + "</div>" if links else ""

    def _redraw(self) -> None:
        if self._busy or self._defer or self.result is None:
            return
        from ..plots.alignment import plot_alignment_overview

        lo, hi = self.zoom.value
        full = hi - lo >= self.zoom.max - 1e-6 and lo <= 1e-6
        fig = plot_alignment_overview(self.result, audio=self._audio, time_range=None if full else (lo, hi),
                                      errors=self.errors if self.result.mode == "forced" else None,
                                      level=self.view.value)
        if self._audio is not None and len(self._audio):  # one amplitude scale: silence must look silent
            peak = float(np.max(np.abs(self._audio))) * 1.05 or 1.0
            for ax in fig.axes:
                if ax.get_ylabel() == "amplitude":
                    ax.set_ylim(-peak, peak)
        set_figure(self.figure, fig)

    def set_zoom(self, start: float, end: float) -> None:
        """Zoom the figure to ``[start, end]`` seconds (clipped to the utterance)."""
        start = float(max(self.zoom.min, min(start, self.zoom.max)))
        end = float(max(start, min(end, self.zoom.max)))
        self.zoom.value = (start, end)

    def play_span(self, start: float, end: float) -> np.ndarray | None:
        """Put the audio of ``[start, end)`` seconds in the player; returns the samples."""
        if self._audio is None:
            self.set_status("no audio to play for this utterance", kind="error")
            return None
        sr = self.analysis.sample_rate
        s0, s1 = int(round(start * sr)), int(round(end * sr))
        self.segment = self._audio[max(0, s0):max(s0 + 1, s1)]
        self.audio.value = wav_bytes(self.segment, sr)
        return self.segment

    def play_word(self, index: int) -> dict:
        """Play word ``index`` of the current alignment and select it (as its button does)."""
        w = next((w for w in self.result.words if w.index == index), None)
        if w is None:
            raise WorkbenchError(f"no word {index} in the {self.result.mode} alignment of {self.analysis.id}")
        if self._audio is not None:
            s0, s1 = self.result.word_samples(index)
            self.segment = self._audio[s0:s1]
            self.audio.value = wav_bytes(self.segment, self.analysis.sample_rate)
        op = self._word_ops().get(index, "equal")
        forced = self.result.mode == "forced"
        word = {"utterance": self.analysis.id, "word": w.word, "index": w.index, "start": w.start, "end": w.end,
                "mode": self.result.mode, "op": op, "ref_index": w.index if forced else None,
                "hyp_index": None if forced else w.index, "confidence": w.confidence}
        self.selected_word = word
        self.set_status(f"{w.word}: {w.start:.2f}-{w.end:.2f} s, confidence {w.confidence:.2f}", kind="ok")
        if self.session is not None:
            self._own_word = word
            self.session.selected_word = word
        return word

    # ------------------------------------------------------------------ session
    def _on_session_corpus(self, change) -> None:
        """The session's corpus changed (loaded, or an utterance added): offer its utterances."""
        if change.new is None:
            return
        if change.new is not change.old:  # a different corpus may reuse ids: its analyses are not ours
            self._analyses = {}
        self.corpus = change.new
        current = self.utterance.value
        ids = self._ids()
        self.utterance.index = None  # replacing options would otherwise select (and draw) the first
        self.utterance.options = ids
        wanted = self.session.selected_utterance if self.session.selected_utterance in ids else current
        if wanted in ids:
            self.utterance.value = wanted

    def _on_session_utterance(self, change) -> None:
        uid = change.new
        if uid and uid != self.utterance.value and uid in self.utterance.options:
            self.guarded(self.show, uid)

    def _on_session_word(self, change) -> None:
        word = change.new
        if not word or word is self._own_word:
            return
        self.guarded(self._go_to_word, word)

    def _go_to_word(self, word: dict) -> None:
        uid = word.get("utterance")
        self._defer = True  # one drawing, after the zoom
        try:
            if uid and uid != self.utterance.value:
                self.show(uid)
            if self.result is None:
                return
            if word.get("ref_index") is not None and self.result.mode != "forced" and self.analysis.reference:
                self.mode.value = "forced"  # reference words live in the forced alignment
        finally:
            self._defer = False
        span = None
        if word.get("ref_index") is not None and self.result.mode == "forced":
            w = next((w for w in self.result.words if w.index == int(word["ref_index"])), None)
            span = (w.start, w.end) if w else None
        elif word.get("hyp_index") is not None:
            w = next((w for w in self.greedy.words if w.index == int(word["hyp_index"])), None)
            span = (w.start, w.end) if w else None
        if span is None and word.get("start") is not None:
            span = (float(word["start"]), float(word["end"]))
        if span is None:
            self.set_status(f"cannot place {word.get('word')!r} in {uid}", kind="error")
            return
        self.selected_word = dict(word, start=span[0], end=span[1])
        before = self.zoom.value
        self.set_zoom(span[0] - _MARGIN_S, span[1] + _MARGIN_S)
        if self.zoom.value == before:  # no change event: draw now
            self._redraw()
        self.play_span(*span)
        self.set_status(f"{word.get('op', '')} {word.get('word')}: {span[0]:.2f}-{span[1]:.2f} s".strip(), kind="ok")

    def _on_session_span(self, change) -> None:
        span = change.new
        if span and self.result is not None and (self.session.selected_utterance in (None, self.utterance.value)):
            self.set_zoom(float(span[0]), float(span[1]))
