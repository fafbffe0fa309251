"""TranscribePanel: run models on a corpus, browse utterances worst first, see and hear each error.

Layout: model choice (only models that can run here; the others named with how to get them),
corpus (path or uploaded audio), Run with a progress bar (counts, Cancel); a compact summary
(WER with its 95% CI, CER, S/D/I, all in percent) with the full tables on demand; a sortable
list of utterances with their reference and hypothesis; for the selected row its audio, the
coloured diff and numbers, and one button per error word.  The evaluation is
``panel.result`` (a :class:`~workbench.evaluation.Evaluation`).  With a session, selecting a
row calls ``session.select(uid)``, a change of ``session.selected_utterance`` selects the
row, and clicking an error word sets ``session.selected_word``.
"""
from __future__ import annotations

import html
import io
from pathlib import Path

import ipywidgets as widgets

from ..data.corpus import Corpus, Utterance
from ..errors import AudioError, CorpusError, WorkbenchError
from .base import Panel, download_link, empty_state, tidy, wav_bytes
from .trust import model_badges, runnable

SORTS = {
    "worst WER first": (["wer", "errors"], False),
    "best WER first": (["wer", "errors"], True),
    "worst CER first": (["cer", "char_errors"], False),
    "most word errors first": (["errors", "wer"], False),
    "utterance id": (["id"], True),
}
_OP_LABEL = {"substitute": "{ref} → {hyp}", "delete": "− {ref}", "insert": "+ {hyp}"}
_OP_STYLE = {"substitute": "warning", "delete": "danger", "insert": "success"}
#: the utterance list is a <select>: monospace so its columns line up under the header
_CSS = ("<style>.wb-table select{font-family:ui-monospace,Menlo,Consolas,monospace;font-size:12px}"
        ".wb-summary td,.wb-summary th{padding:2px 10px;text-align:right}"
        ".wb-summary th:first-child,.wb-summary td:first-child{text-align:left}</style>")
_TEXT = 46  # characters of reference/hypothesis shown per list row
#: decoders the panel offers: greedy (argmax), beam search with a word LM, or both side by side
DECODERS = ("greedy", "beam + LM")
DEMO_LM = "demo-lm"
#: ``decoder=`` values of the constructor (and ``workbench app --decoder``) and the toggle they select
DECODER_CHOICES = {"greedy": "greedy", "beam": "beam + LM", "both": "both"}


def _missing(v) -> bool:
    return v is None or (isinstance(v, float) and v != v)


def _pct(v) -> str:
    return "   n/a" if v is None or v != v else f"{v:6.1%}"


def _clip(text, n: int = _TEXT) -> str:
    text = "" if _missing(text) else str(text)
    return text if len(text) <= n else text[: n - 1] + "…"


def inside(root: Path | None, path: str | Path, *, what: str = "path") -> Path:
    """``path`` resolved against ``root`` (the app's working folder); a path outside it is refused.
    Without a root any path is taken as given."""
    p = Path(str(path).strip()).expanduser()
    if root is None:
        return p
    root = Path(root).resolve()
    full = (root / p).resolve() if not p.is_absolute() else p.resolve()
    if full != root and root not in full.parents:
        raise CorpusError(f"{path}: outside the app's working folder {root}; give a {what} inside it "
                          "(restart `workbench app --workdir DIR` to work elsewhere)")
    return full


def _side_by_side(runs: dict) -> "object":
    """One Evaluation holding every (model, decoder) as its own system, compared pairwise."""
    from ..evaluation.evaluate import Evaluation
    from ..scoring.compare import compare_systems

    scores, analyses = {}, {}
    for decoder, ev in runs.items():
        for model in ev.models:
            key = f"{model} · {decoder}"
            scores[key] = ev.scores[model]
            analyses[key] = ev.analyses[model]
    first = next(iter(runs.values()))
    return Evaluation(corpus=first.corpus, scores=scores, analyses=analyses, comparison=compare_systems(scores),
                      provenance={**first.provenance, "decoders": list(runs)})


def summary_html(ev) -> str:
    """The compact corpus summary: one row per model, every rate in percent."""
    frame = ev.to_frame()
    rows = []
    for _, r in frame.iterrows():
        wer_ci = f"{r['wer']:.1%} <span style='color:#666'>[{r['wer_lo']:.1%}–{r['wer_hi']:.1%}]</span>" \
            if not _missing(r["wer"]) else "n/a"
        cer = f"{r['cer']:.1%}" if not _missing(r["cer"]) else "n/a"
        failed = f" (+{int(r['failed'])} not scored)" if r["failed"] else ""
        rows.append(f"<tr><td><b>{html.escape(str(r['system']))}</b></td><td>{wer_ci}</td><td>{cer}</td>"
                    f"<td>{int(r['substitutions'])} / {int(r['deletions'])} / {int(r['insertions'])}</td>"
                    f"<td>{int(r['ref_words'])}</td><td>{int(r['scored'])}{failed}</td></tr>")
    table = ("<table class='wb-summary'><tr><th>model</th><th>WER [95% CI]</th><th>CER</th><th>S / D / I</th>"
             "<th>words</th><th>utterances</th></tr>" + "".join(rows) + "</table>")
    details = ("<details><summary style='cursor:pointer;color:#1565c0'>details: every figure, notes and "
               "the paired comparison</summary>" + ev._repr_html_() + "</details>")
    return table + details


class TranscribePanel(Panel):
    """Choose model(s) and a corpus, Run, then click through the utterances worst first.

    ``root``: confine the corpus path field to this folder (the served app's working folder).
    """

    title = "Transcribe"

    def __init__(self, corpus: Corpus | None = None, models: tuple[str, ...] | list[str] = ("w2v2-tiny-ctc",), *,
                 registry=None, session=None, n_boot: int = 1000, normalizer=None, root=None,
                 decoder: str = "greedy", lm: str | None = None) -> None:
        super().__init__(registry=registry, session=session)
        if decoder not in DECODER_CHOICES:
            raise WorkbenchError(f"decoder={decoder!r}; choose one of {', '.join(DECODER_CHOICES)}")
        self.lm = str(lm) if lm is not None else DEMO_LM
        if corpus is None and session is not None:
            corpus = getattr(session, "corpus", None)
        self.corpus: Corpus | None = corpus
        self.n_boot = n_boot
        self.normalizer = normalizer
        self.root = Path(root).resolve() if root is not None else None
        self.selected: str | None = None
        self.selected_word: dict | None = None
        models = [models] if isinstance(models, str) else list(models)
        options, missing_note = runnable(self.registry, "ctc", keep=models)

        # --- inputs
        self.model_select = widgets.SelectMultiple(options=options, value=tuple(models),
                                                   rows=min(4, max(len(options), 1)), description="models")
        self.model_note = widgets.HTML()
        self.missing_models = widgets.HTML(missing_note)
        where = f" inside {self.root}" if self.root is not None else ""
        self.corpus_path = widgets.Text(placeholder=f"manifest (.jsonl/.csv) or folder{where}", description="corpus",
                                        layout=widgets.Layout(width="420px"))
        self.load_button = widgets.Button(description="Load corpus", icon="folder-open")
        self.upload = widgets.FileUpload(accept=".wav,.flac,.ogg,.mp3,audio/*", multiple=True,
                                         description="Upload audio")
        self.corpus_label = widgets.HTML()
        lm_ok = self._lm_available()
        if decoder != "greedy" and not lm_ok:
            raise WorkbenchError(f"decoder={decoder!r} needs the language model {self.lm!r}, which is neither an "
                                 "available registry LM nor a file; give lm= (a registry name or an ARPA/KenLM "
                                 "binary path) or install the lm extra")
        self.decoder = widgets.ToggleButtons(
            options=[("greedy", "greedy"), ("beam + LM", "beam + LM"), ("both", "both")] if lm_ok else
            [("greedy", "greedy")], value=DECODER_CHOICES[decoder], description="decoder",
            style={"button_width": "96px"},
            tooltips=["the most likely token per frame (no language model)",
                      f"beam search with the word language model {self.lm}",
                      "both: their transcripts and WER side by side"] if lm_ok else ["greedy"])
        self.run_button = widgets.Button(description="Run", button_style="primary", icon="play",
                                         tooltip="transcribe and score the corpus with the chosen models")
        self.progress = self.progress_row  # .value/.max: how far the last run got
        # --- results
        self.empty = empty_state("Press Run to transcribe the corpus: the summary, the utterance list (worst "
                                 "first) and each utterance's diff appear here.")
        self.summary = widgets.HTML()
        self.downloads = widgets.HTML()
        self.system = widgets.Dropdown(options=[], description="system")
        self.sort = widgets.Dropdown(options=list(SORTS), value="worst WER first", description="sort")
        self.table_header = widgets.HTML()
        self.table = widgets.Select(options=[], rows=12, layout=widgets.Layout(width="100%"))
        self.table.add_class("wb-table")
        self.audio = widgets.Audio(value=b"", format="wav", autoplay=False, loop=False)
        self.diff = widgets.HTML()
        self.numbers = widgets.HTML()
        self.error_words = widgets.HBox(layout=widgets.Layout(flex_flow="row wrap"))
        self.results_box = widgets.VBox([self.summary, self.downloads, widgets.HBox([self.system, self.sort]),
                                         self.table_header, self.table],
                                        layout=widgets.Layout(display="none"))

        self.load_button.on_click(lambda _: self.guarded(self.load_corpus, self.corpus_path.value))
        self.upload.observe(lambda ch: self._upload_changed(ch["new"]), "value")
        self.run_button.on_click(lambda _: self.start_run())
        self.model_select.observe(lambda _: self._show_models(), "value")
        self.system.observe(lambda _: self._fill_table(), "value")
        self.sort.observe(lambda _: self._fill_table(), "value")
        self.table.observe(self._on_row, "value")
        if session is not None:
            session.observe(self._on_session, "selected_utterance")
            session.observe(self._on_session_corpus, "corpus")

        self._show_corpus()
        self._show_models()
        self.layout = widgets.VBox([
            widgets.HTML(_CSS + f"<h3 style='margin:0.3em 0'>{self.title}</h3>"),
            self.model_note,
            widgets.HBox([widgets.VBox([self.model_select, self.missing_models], layout=widgets.Layout(width="46%")),
                          widgets.VBox([widgets.HBox([self.corpus_path, self.load_button]),
                                        widgets.HBox([self.upload, self.corpus_label])])]),
            self.decoder,
            widgets.HBox([self.run_button, self.progress_row.box], layout=widgets.Layout(align_items="center")),
            self.status,
            self.empty,
            self.results_box,
            self.audio,
            self.diff,
            self.error_words,
            self.numbers,
        ])
        tidy(self.layout)

    def _show_models(self) -> None:
        self.model_note.value = model_badges(self.registry, self.model_select.value)

    # ------------------------------------------------------------------ corpus
    def load_corpus(self, path: str) -> Corpus:
        """Load a manifest or folder as the panel's corpus (and the session's, when there is one)."""
        if not str(path).strip():
            raise CorpusError("give a manifest (.jsonl/.csv) or a folder of audio in the corpus field")
        self.corpus = Corpus.load(inside(self.root, path, what="manifest or folder"))
        self._show_corpus()
        if self.session is not None and self.session.corpus is not self.corpus:
            self.session.corpus = self.corpus
        return self.corpus

    def _on_session_corpus(self, change) -> None:
        """Another panel (or the notebook) changed the session's corpus: show it."""
        self.corpus = change.new
        self._show_corpus()

    def _upload_changed(self, files) -> None:
        if not files:
            return
        try:
            self.guarded(self._on_upload, files)
        finally:
            self.upload.value = ()  # the button's "(1)" counter starts again; a failed file is not kept

    def _on_upload(self, files) -> None:
        import numpy as np
        import soundfile as sf

        if not files:
            return
        decoded = []
        for f in files:  # read them all first: one bad file adds nothing
            name = str(f["name"])
            try:
                audio, sr = sf.read(io.BytesIO(bytes(f["content"])), dtype="float32", always_2d=False)
            except Exception as exc:
                reason = str(exc).split(": ", 1)[-1] if "<_io." in str(exc) else str(exc)
                raise AudioError(f"{name} could not be read as audio ({reason.strip() or type(exc).__name__}); "
                                 "upload a WAV, FLAC, OGG or MP3 file") from None
            if audio.ndim > 1:
                audio = audio.mean(axis=1)
            if not len(audio):
                raise AudioError(f"{name} holds no audio samples; upload a recording that is not empty")
            decoded.append((name, np.asarray(audio, dtype=np.float32), int(sr)))
        corpus = self.corpus if self.corpus is not None else Corpus([], name="uploads")
        added = []
        for name, audio, sr in decoded:
            added.append(self.add_audio(name.rsplit(".", 1)[0], audio, sr, corpus=corpus))
        self.set_status(f"added {len(added)} uploaded file(s): {', '.join(added)}; press Run to transcribe",
                        kind="ok")

    def add_audio(self, name: str, audio, sample_rate: int, *, corpus: Corpus | None = None, text=None) -> str:
        """Add one in-memory clip to the corpus (a unique id made from ``name``) and tell the session."""
        corpus = corpus if corpus is not None else self.corpus if self.corpus is not None else \
            Corpus([], name="uploads")
        uid = name
        while any(u.id == uid for u in corpus):
            uid += "_"
        corpus.add(Utterance(id=uid, array=audio, sample_rate=int(sample_rate), duration=len(audio) / sample_rate,
                             audio=None, text=text))
        self.corpus = corpus
        self._show_corpus()
        if self.session is not None:
            if self.session.corpus is corpus:
                self.session.notify("corpus", old=corpus)
            else:
                self.session.corpus = corpus
        return uid

    def _show_corpus(self) -> None:
        if self.corpus is None:
            self.corpus_label.value = "<i>no corpus yet: give a manifest path or upload audio</i>"
            return
        c = self.corpus
        self.corpus_label.value = (f"<b>{html.escape(c.name)}</b>: {len(c)} utterances"
                                   + (f", {len(c.problems)} load problems" if c.problems else ""))

    # ------------------------------------------------------------------ run
    def _lm_available(self) -> bool:
        if self.lm in self.registry.names():
            return self.registry.available_offline(self.lm)
        return Path(self.lm).expanduser().is_file()

    def decoding(self, name: str) -> dict:
        """The ``evaluate`` keywords of a toggle value: none for greedy, beam search with ``self.lm``."""
        return {} if name == "greedy" else {"decoder": "beam", "lm": self.lm}

    def _on_progress(self, done: int, total: int) -> None:
        self.progress_row.update(done, total)  # raises Cancelled after Cancel

    def start_run(self):
        """Run as the button does: Run disabled, progress with counts and Cancel until it ends."""
        n = len(self.corpus) * max(len(self.model_select.value), 1) if self.corpus is not None else None
        if n is not None and self.decoder.value == "both":
            n *= 2
        return self.start_task(self.run, buttons=(self.run_button,), label="transcribing", total=n, cancellable=True)

    def run(self):
        """Evaluate the chosen models on the corpus; fills the summary and the table."""
        from ..evaluation.evaluate import evaluate

        if self.corpus is None or not len(self.corpus):
            raise CorpusError("no utterances to transcribe: load a manifest or upload audio first")
        models = list(self.model_select.value)
        if not models:
            raise CorpusError("choose at least one model")
        self.set_status(f"running {', '.join(models)} on {len(self.corpus)} utterances ...")
        passes = list(DECODERS) if self.decoder.value == "both" else [self.decoder.value]
        runs = []
        for k, name in enumerate(passes):  # the second pass reads the analyses back from the cache
            offset = k * len(self.corpus) * len(models)
            total = len(passes) * len(self.corpus) * len(models)
            runs.append(evaluate(self.corpus, models, registry=self.registry, normalizer=self.normalizer,
                                 n_boot=self.n_boot, progress_step=1, progress=False,
                                 on_progress=lambda d, t, o=offset, n=total: self._on_progress(o + d, n),
                                 **self.decoding(name)))
        ev = runs[0] if len(runs) == 1 else _side_by_side(dict(zip(passes, runs)))
        self.result = ev
        self.summary.value = summary_html(ev)
        self.downloads.value = self._downloads(ev)
        self.empty.layout.display = "none"
        self.results_box.layout.display = None
        self.system.options = ev.models
        self.system.value = ev.models[0]
        self._fill_table()
        n_err = len(ev.score.failed)
        self.set_status(f"done: {len(self.corpus)} utterances" + (f", {n_err} error rows" if n_err else "")
                        + "; click a row", kind="ok")
        if self.session is not None:
            self.session.results = {**(self.session.results or {}), "transcribe": ev}
        return ev

    @staticmethod
    def _downloads(ev) -> str:
        from ..data.tables import neutralise_frame

        per = neutralise_frame(ev.per_utterance()).to_csv(index=False)
        corpus = neutralise_frame(ev.to_frame()).to_csv(index=False)
        return ("<div style='font-size:90%'>" + download_link(per, "per_utterance.csv", mime="text/csv")
                + download_link(corpus, "corpus.csv", mime="text/csv") + "</div>")

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
        self.table_header.value = (f"<pre style='margin:0;font-size:12px'>{'utterance'.ljust(width)}     WER     CER"
                                   f"   S  D  I  reference → hypothesis</pre>")
        options = []
        for _, r in df.iterrows():
            uid = str(r["id"])
            if _missing(r["reference"]) and not _missing(r["hypothesis"]):
                label = f"{uid.ljust(width)}  (no reference)  heard: {_clip(r['hypothesis'], 80)}"
            elif not _missing(r["error"]):
                label = f"{uid.ljust(width)}  ERROR {str(r['error'])[:80]}"
            else:
                label = (f"{uid.ljust(width)}  {_pct(r['wer'])}  {_pct(r['cer'])}  {int(r['substitutions']):2d} "
                         f"{int(r['deletions']):2d} {int(r['insertions']):2d}  "
                         f"{_clip(r['reference'])} → {_clip(r['hypothesis'])}")
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
                           f"(normalised)</div>" + body
                           + "<div style='color:#666;font-size:90%'>click an error word below to hear it in the "
                             "Alignment tab</div>")
        fields = [("speaker", row.get("speaker")), ("WER", _pct(row.get("wer")).strip()),
                  ("CER", _pct(row.get("cer")).strip()), ("raw-text WER", _pct(row.get("raw_wer")).strip()),
                  ("reference words", row.get("ref_words")), ("hits", row.get("hits")),
                  ("substitutions", row.get("substitutions")), ("deletions", row.get("deletions")),
                  ("insertions", row.get("insertions")), ("reference", row.get("reference")),
                  ("hypothesis", row.get("hypothesis")), ("note", row.get("note")), ("error", row.get("error"))]
        self.numbers.value = "<table>" + "".join(
            f"<tr><th style='text-align:left;padding-right:1em'>{html.escape(k)}</th>"
            f"<td>{html.escape(str(v))}</td></tr>" for k, v in fields if v is not None) + "</table>"
        if self.result is not None and len(self.result.models) > 1:  # e.g. greedy and beam + LM side by side
            lines = []
            for name in self.result.models:
                try:
                    other = self.result[name].row(uid)
                except KeyError:
                    continue
                lines.append(f"<tr><td><b>{html.escape(name)}</b></td><td>{_pct(other.get('wer')).strip()}</td>"
                             f"<td style='text-align:left;font-family:monospace'>"
                             f"{html.escape(str(other.get('hypothesis') or ''))}</td></tr>")
            self.numbers.value = ("<div><b>every system on this utterance</b></div><table class='wb-summary'>"
                                  "<tr><th>system</th><th>WER</th><th style='text-align:left'>transcript</th></tr>"
                                  + "".join(lines) + "</table>" + self.numbers.value)
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
