"""TranscribePanel: run models on a corpus, browse utterances worst first, see and hear each error.

Layout: model choice, corpus (path or uploaded audio), Run with a progress bar; the corpus
summary; a sortable list of utterances (clicking a row shows its audio player, coloured
diff and numbers); one button per error word of the selected utterance.  The evaluation is
``panel.result`` (a :class:`~workbench.evaluation.Evaluation`).  With a session, selecting a
row calls ``session.select(uid)``, a change of ``session.selected_utterance`` selects the
row, and clicking an error word sets ``session.selected_word``.
"""
from __future__ import annotations

import html
import io

import ipywidgets as widgets

from ..data.corpus import Corpus, Utterance
from ..errors import AudioError
from .base import Panel, wav_bytes

SORTS = {
    "worst WER first": (["wer", "errors"], False),
    "best WER first": (["wer", "errors"], True),
    "worst CER first": (["cer", "char_errors"], False),
    "most word errors first": (["errors", "wer"], False),
    "utterance id": (["id"], True),
}
_OP_LABEL = {"substitute": "{ref} → {hyp}", "delete": "− {ref}", "insert": "+ {hyp}"}
_OP_STYLE = {"substitute": "warning", "delete": "danger", "insert": "success"}


def _missing(v) -> bool:
    return v is None or (isinstance(v, float) and v != v)


def _pct(v) -> str:
    return "   n/a" if v is None or v != v else f"{v:6.1%}"


class TranscribePanel(Panel):
    """Choose model(s) and a corpus, Run, then click through the utterances worst first."""

    title = "Transcribe"

    def __init__(self, corpus: Corpus | None = None, models: tuple[str, ...] | list[str] = ("w2v2-tiny-ctc",), *,
                 registry=None, session=None, n_boot: int = 1000, normalizer=None) -> None:
        super().__init__(registry=registry, session=session)
        if corpus is None and session is not None:
            corpus = getattr(session, "corpus", None)
        self.corpus: Corpus | None = corpus
        self.n_boot = n_boot
        self.normalizer = normalizer
        self.selected: str | None = None
        self.selected_word: dict | None = None
        models = [models] if isinstance(models, str) else list(models)
        names = list(dict.fromkeys([*models, *self.registry.names(kind="ctc")]))

        # --- inputs
        self.model_select = widgets.SelectMultiple(options=names, value=tuple(models), rows=min(5, len(names)),
                                                   description="models")
        self.corpus_path = widgets.Text(placeholder="manifest (.jsonl/.csv) or folder", description="corpus",
                                        layout=widgets.Layout(width="420px"))
        self.load_button = widgets.Button(description="Load corpus", icon="folder-open")
        self.upload = widgets.FileUpload(accept=".wav,.flac,.ogg,.mp3,audio/*", multiple=True,
                                         description="Upload audio")
        self.corpus_label = widgets.HTML()
        self.run_button = widgets.Button(description="Run", button_style="primary", icon="play")
        self.progress = widgets.IntProgress(value=0, min=0, max=1, description="progress",
                                            layout=widgets.Layout(width="320px"))
        # --- results
        self.summary = widgets.HTML()
        self.system = widgets.Dropdown(options=[], description="system")
        self.sort = widgets.Dropdown(options=list(SORTS), value="worst WER first", description="sort")
        self.table_header = widgets.HTML()
        self.table = widgets.Select(options=[], rows=12, layout=widgets.Layout(width="100%"))
        self.audio = widgets.Audio(value=b"", format="wav", autoplay=False, loop=False)
        self.diff = widgets.HTML()
        self.numbers = widgets.HTML()
        self.error_words = widgets.HBox(layout=widgets.Layout(flex_flow="row wrap"))

        self.load_button.on_click(lambda _: self.guarded(self.load_corpus, self.corpus_path.value))
        self.upload.observe(lambda ch: self.guarded(self._on_upload, ch["new"]), "value")
        self.run_button.on_click(lambda _: self.guarded(self.run))
        self.system.observe(lambda _: self._fill_table(), "value")
        self.sort.observe(lambda _: self._fill_table(), "value")
        self.table.observe(self._on_row, "value")
        if session is not None:
            session.observe(self._on_session, "selected_utterance")
            session.observe(self._on_session_corpus, "corpus")

        self._show_corpus()
        self.layout = widgets.VBox([
            widgets.HTML(f"<h3>{self.title}</h3>"),
            widgets.HBox([self.model_select, widgets.VBox([widgets.HBox([self.corpus_path, self.load_button]),
                                                           widgets.HBox([self.upload, self.corpus_label])])]),
            widgets.HBox([self.run_button, self.progress]),
            self.status,
            self.summary,
            widgets.HBox([self.system, self.sort]),
            self.table_header,
            self.table,
            self.audio,
            self.diff,
            self.error_words,
            self.numbers,
        ])

    # ------------------------------------------------------------------ corpus
    def load_corpus(self, path: str) -> Corpus:
        """Load a manifest or folder as the panel's corpus (and the session's, when there is one)."""
        self.corpus = Corpus.load(path.strip())
        self._show_corpus()
        if self.session is not None and self.session.corpus is not self.corpus:
            self.session.corpus = self.corpus
        return self.corpus

    def _on_session_corpus(self, change) -> None:
        """Another panel (or the notebook) changed the session's corpus: show it."""
        self.corpus = change.new
        self._show_corpus()

    def _on_upload(self, files) -> None:
        import numpy as np
        import soundfile as sf

        if not files:
            return
        corpus = self.corpus if self.corpus is not None else Corpus([], name="uploads")
        added = []
        for f in files:
            name = str(f["name"])
            try:
                audio, sr = sf.read(io.BytesIO(bytes(f["content"])), dtype="float32", always_2d=False)
            except Exception as exc:
                raise AudioError(f"{name}: not readable as audio ({exc}); upload wav/flac/ogg") from exc
            uid = name.rsplit(".", 1)[0]
            while any(u.id == uid for u in corpus):
                uid += "_"
            corpus.add(Utterance(id=uid, array=np.asarray(audio, dtype=np.float32), sample_rate=int(sr),
                                 duration=len(audio) / sr, audio=None))
            added.append(uid)
        self.corpus = corpus
        self._show_corpus()
        if self.session is not None:
            if self.session.corpus is corpus:
                self.session.notify("corpus", old=corpus)
            else:
                self.session.corpus = corpus
        self.set_status(f"added {len(added)} uploaded file(s): {', '.join(added)}", kind="ok")

    def _show_corpus(self) -> None:
        if self.corpus is None:
            self.corpus_label.value = "<i>no corpus yet: give a manifest path or upload audio</i>"
            return
        c = self.corpus
        self.corpus_label.value = (f"<b>{html.escape(c.name)}</b>: {len(c)} utterances"
                                   + (f", {len(c.problems)} load problems" if c.problems else ""))

    # ------------------------------------------------------------------ run
    def _on_progress(self, done: int, total: int) -> None:
        self.progress.max = max(total, 1)
        self.progress.value = done

    def run(self):
        """Evaluate the chosen models on the corpus; fills the summary and the table."""
        from ..errors import CorpusError
        from ..evaluation.evaluate import evaluate

        if self.corpus is None or not len(self.corpus):
            raise CorpusError("no utterances to transcribe: load a manifest or upload audio first")
        models = list(self.model_select.value)
        if not models:
            raise CorpusError("choose at least one model")
        self.set_status(f"running {', '.join(models)} on {len(self.corpus)} utterances ...")
        self.progress.value = 0
        ev = evaluate(self.corpus, models, registry=self.registry, normalizer=self.normalizer, n_boot=self.n_boot,
                      on_progress=self._on_progress, progress=False)
        self.result = ev
        self.summary.value = ev._repr_html_()
        self.system.options = ev.models
        self.system.value = ev.models[0]
        self._fill_table()
        n_err = len(ev.score.failed)
        self.set_status(f"done: {len(self.corpus)} utterances" + (f", {n_err} error rows" if n_err else "")
                        + "; click a row", kind="ok")
        if self.session is not None:
            self.session.results = {**(self.session.results or {}), "transcribe": ev}
        return ev

    # ------------------------------------------------------------------ table
    @property
    def score(self):
        """The CorpusScore shown in the table (None before Run)."""
        if self.result is None or not self.system.value:
            return None
        return self.result[self.system.value]

    def rows(self):
        """The table's rows in display order (scored rows sorted, error rows last)."""
        score = self.score
        if score is None:
            return None
        cols, ascending = SORTS[self.sort.value]
        ok = score.scored.sort_values(cols + ["id"], ascending=[ascending] * len(cols) + [True], na_position="last")
        import pandas as pd

        return pd.concat([ok, score.failed], ignore_index=True)

    def _fill_table(self) -> None:
        df = self.rows()
        if df is None:
            self.table.options = []
            return
        width = max([len(str(i)) for i in df["id"]] + [10])
        self.table_header.value = (f"<pre style='margin:0'>{'utterance'.ljust(width)}     WER     CER   "
                                   f"S  D  I  words</pre>")
        options = []
        for _, r in df.iterrows():
            uid = str(r["id"])
            if _missing(r["reference"]) and not _missing(r["hypothesis"]):
                label = f"{uid.ljust(width)}  (no reference)  {str(r['hypothesis'])[:80]}"
            elif not _missing(r["error"]):
                label = f"{uid.ljust(width)}  ERROR {str(r['error'])[:80]}"
            else:
                label = (f"{uid.ljust(width)}  {_pct(r['wer'])}  {_pct(r['cer'])}  {int(r['substitutions']):2d} "
                         f"{int(r['deletions']):2d} {int(r['insertions']):2d}  {int(r['ref_words'])}")
            options.append((label, uid))
        keep = self.selected if self.selected in {v for _, v in options} else None
        self.table.index = None  # else new options select their first row, which reads as a click
        self.table.options = options
        self.table.value = keep

    def select(self, uid: str | None) -> None:
        """Select an utterance row (as a click would)."""
        self.table.value = uid

    def _on_row(self, change) -> None:
        uid = change["new"]
        if uid is None:
            return
        self.selected = uid
        self.guarded(self._show_utterance, uid)
        if self.session is not None and self.session.selected_utterance != uid:
            self.session.select(uid)

    def _on_session(self, change) -> None:
        uid = change.new
        if uid != self.table.value and uid in {v for _, v in self.table.options}:
            self.table.value = uid

    # ------------------------------------------------------------------ one utterance
    def _show_utterance(self, uid: str) -> None:
        score = self.score
        row = score.row(uid)
        if row.get("reference") is None and row.get("hypothesis") is not None:
            body = (f'<div class="wb-diff" style="font-family:monospace">{html.escape(row["hypothesis"])}</div>'
                    "<div style='color:#777'>no reference text: transcript only, not scored</div>")
        else:
            body = score.diff(uid, html=True)
        self.diff.value = (f"<div><b>{html.escape(uid)}</b> &mdash; reference / hypothesis aligned "
                           f"(normalised)</div>" + body)
        fields = [("speaker", row.get("speaker")), ("WER", _pct(row.get("wer")).strip()),
                  ("CER", _pct(row.get("cer")).strip()), ("raw-text WER", _pct(row.get("raw_wer")).strip()),
                  ("reference words", row.get("ref_words")), ("hits", row.get("hits")),
                  ("substitutions", row.get("substitutions")), ("deletions", row.get("deletions")),
                  ("insertions", row.get("insertions")), ("reference", row.get("reference")),
                  ("hypothesis", row.get("hypothesis")), ("note", row.get("note")), ("error", row.get("error"))]
        self.numbers.value = "<table>" + "".join(
            f"<tr><th style='text-align:left;padding-right:1em'>{html.escape(k)}</th>"
            f"<td>{html.escape(str(v))}</td></tr>" for k, v in fields if v is not None) + "</table>"
        buttons = []
        for op in score.word_alignment(uid):
            if not op.is_error:
                continue
            b = widgets.Button(description=_OP_LABEL[op.op].format(ref=op.ref, hyp=op.hyp),
                               button_style=_OP_STYLE[op.op],
                               tooltip=f"{op.op}: ref #{op.ref_index}, hyp #{op.hyp_index}",
                               layout=widgets.Layout(width="auto"))
            b.on_click(lambda _, op=op: self.select_word(uid, op))
            buttons.append(b)
        self.error_words.children = buttons
        self.audio.value = b""
        try:
            utt = self.corpus[uid] if self.corpus is not None else None
        except KeyError:
            utt = None
        if utt is not None:
            self.audio.value = wav_bytes(utt.load(16_000), 16_000)

    def select_word(self, uid: str, op) -> dict:
        """Select one error word (as its button does); tells the session so the alignment view can move."""
        word = {"utterance": uid, "ref_index": op.ref_index, "hyp_index": op.hyp_index, "op": op.op,
                "word": op.ref if op.ref is not None else op.hyp, "ref": op.ref, "hyp": op.hyp,
                "system": self.system.value}
        self.selected_word = word
        if self.session is not None:
            self.session.selected_word = word
        self.set_status(f"{op.op}: {word['word']} in {uid}")
        return word
