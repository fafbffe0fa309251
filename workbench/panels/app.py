"""Workbench: the transcribe, alignment, codebook, embedding and synthesis panels in one tabbed
app over one registry and one :class:`~workbench.panels.session.Session`.

The panels link only through the session; the app adds what no single panel can know:

* a selected error word (from the transcribe diff) opens the alignment tab, which zooms to
  the word and plays it; the app then puts the word's frames in ``session.highlight_frames``
  so the embedding map rings them;
* a span opened from the embedding map (``session.select(uid, span)``) opens the alignment tab;
* utterances added to the corpus (synthesized speech, uploads) reach the alignment
  dropdown, and the transcribe table is re-run so the new row is scored like any other
  (the engine cache means only the new utterance goes through the model);
* panels are built when their tab is first opened; the observers a panel registers are
  handed the session's current state at once (:meth:`Session.replay`), so a selection made
  before the tab existed shows when it opens.

``Workbench.save_session(path)`` / ``Workbench.from_session(path)`` write and reopen the view
(corpus, models, selection, open tab) as JSON.

Served (``workbench app``, ``background=True``) the app shows its shell (header, tabs, corpus
line) at once and runs every long action in a background thread: its button disabled, a
progress bar with counts and Cancel in the panel.  ``root`` is the working folder: the
page saves and loads sessions and corpora only inside it.  A microphone button (anywidget)
records your voice into the corpus and transcribes it.
"""
from __future__ import annotations

import html
import math
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Callable

import ipywidgets as widgets

from ..data.corpus import Corpus
from ..errors import CorpusError, WorkbenchError
from ..models.registry import ModelRegistry, resolve
from .base import tidy
from .session import Change, Session
from .transcribe import inside
from .trust import model_badges

PANELS = ("transcribe", "alignment", "codebook", "embedding", "synthesis")
TITLES = {"transcribe": "Transcribe", "alignment": "Alignment", "codebook": "Codebook", "embedding": "Embeddings",
          "synthesis": "Synthesis"}
DEFAULT_ASR = "w2v2-tiny-ctc"
DEFAULT_PRETRAINING = "w2v2-tiny"
MANIFEST = Path("datasets") / "kokoro-eval" / "manifest.jsonl"
FRAME_SECONDS = 320 / 16_000  # wav2vec2's frame stride, used only when no analysis says otherwise


def default_corpus_path() -> Path | None:
    """The project's evaluation set: ``$WORKBENCH_CORPUS``, else ``datasets/kokoro-eval`` next to
    the package's source tree, else in the current folder or one of its parents."""
    env = os.environ.get("WORKBENCH_CORPUS")
    if env:
        return Path(env)
    here = Path(__file__).resolve()
    for root in [here.parents[2], *[p for p in [Path.cwd(), *Path.cwd().parents]]]:
        if (root / MANIFEST).is_file():
            return root / MANIFEST
    return None


def parse_models(models, registry: ModelRegistry) -> dict[str, Any]:
    """``{"asr": [names], "pretraining": name, "voice": name | None}`` from a dict, a list or a name.

    A dict may use the keys ``asr`` (a name or a list), ``pretraining`` and ``voice``/``tts``;
    a list or a single name is sorted by each model's kind in the registry.
    """
    out: dict[str, Any] = {"asr": [], "pretraining": None, "voice": None}
    if models is None:
        models = {}
    if isinstance(models, str):
        models = [models]
    if isinstance(models, Mapping):
        unknown = set(models) - {"asr", "pretraining", "voice", "tts"}
        if unknown:
            raise WorkbenchError(f"models= has unknown key(s) {sorted(unknown)}; use 'asr', 'pretraining', 'voice'")
        asr = models.get("asr")
        out["asr"] = [asr] if isinstance(asr, str) else list(asr or [])
        out["pretraining"] = models.get("pretraining")
        out["voice"] = models.get("voice") or models.get("tts")
    else:
        for name in models:
            kind = registry.spec(name).kind  # UnknownModelError names the choices
            if kind == "ctc":
                out["asr"].append(name)
            elif kind == "pretraining":
                if out["pretraining"] is not None:
                    raise WorkbenchError(f"two pretraining models given ({out['pretraining']}, {name}); give one")
                out["pretraining"] = name
            elif kind == "voice":
                out["voice"] = name
            else:
                raise WorkbenchError(f"{name} is a {kind} model; the app takes CTC (asr) and pretraining models")
    return out


class Workbench:
    """Every panel in one tabbed view over one registry and one session.

    ``corpus``: a :class:`Corpus` or a manifest/folder path (default: the session's corpus,
    else ``datasets/kokoro-eval``).  ``models``: ``{"asr": ..., "pretraining": ..., "voice": ...}``
    or a list of names (defaults ``w2v2-tiny-ctc`` and ``w2v2-tiny``).  ``autorun`` runs the
    transcribe table at start and the codebook/embedding analyses when their tab first opens;
    ``follow`` switches to the alignment tab when a word or span is picked in another panel;
    ``panel_options`` passes extra keyword arguments to a panel's constructor
    (e.g. ``{"embedding": {"method": "pca"}}``).  ``background`` runs long actions in threads
    (the served app); ``root`` confines the page's session and corpus paths to one folder;
    ``microphone`` adds the Record button (needs ``anywidget``).
    """

    def __init__(self, corpus=None, models=None, *, registry: ModelRegistry | None = None,
                 session: Session | None = None, lazy: bool = True, autorun: bool = True, follow: bool = True,
                 tab: str | None = None, panel_options: Mapping[str, Mapping[str, Any]] | None = None,
                 background: bool = False, root: str | os.PathLike | None = None, microphone: bool = True) -> None:
        self.registry = resolve(registry if registry is not None else getattr(session, "registry", None))
        if session is None:
            session = Session(registry=self.registry)
        session.registry = self.registry
        self.session = session
        self.autorun = autorun
        self.follow = follow
        self.background = background
        self.root = Path(root).resolve() if root is not None else None
        self.panel_options = {k: dict(v) for k, v in (panel_options or {}).items()}
        unknown = set(self.panel_options) - set(PANELS)
        if unknown:
            raise WorkbenchError(f"panel_options has unknown panel(s) {sorted(unknown)}; choose from {PANELS}")

        chosen = parse_models(models, self.registry)
        saved_asr = list(session.view.get("asr_models") or [])
        self.asr_models: list[str] = chosen["asr"] or (saved_asr if models is None and saved_asr else []) \
            or [session.asr_model or DEFAULT_ASR]
        session.asr_model = self.asr_models[0]
        session.pretraining_model = chosen["pretraining"] or session.pretraining_model or DEFAULT_PRETRAINING
        if chosen["voice"]:
            session.tts_voice = chosen["voice"]
        session.view["asr_models"] = list(self.asr_models)
        if corpus is not None:
            from ..data.corpus import as_corpus

            session.corpus = as_corpus(corpus)
        elif session.corpus is None:
            path = default_corpus_path()
            if path is None:
                raise CorpusError(f"no corpus given and {MANIFEST} was not found next to the package or in the "
                                  "current folder; pass corpus= (a Corpus or a manifest path)")
            session.corpus = Corpus.load(path)

        self.panels: dict[str, Any] = {}
        self._observers: dict[str, list] = {}
        self._known_ids: tuple[str, ...] = tuple(session.corpus.ids()) if session.corpus is not None else ()
        self._opened: set[str] = set()

        # --- widgets
        self.status = widgets.HTML(layout=widgets.Layout(min_height="1.2em"))
        self.context = widgets.HTML()
        self.model_note = widgets.HTML()
        folder = self.root if self.root is not None else Path.cwd().resolve()
        self.session_path = widgets.Text(value=str(folder / "workbench-session.json"), description="session",
                                         tooltip=f"saved inside {folder}", layout=widgets.Layout(width="420px"))
        self.save_button = widgets.Button(description="Save session", icon="save", layout=widgets.Layout(width="auto"))
        self.save_button.on_click(lambda _: self._guard(self.save_session, self.session_path.value))
        self.microphone = self._microphone() if microphone else None
        self._boxes = {name: widgets.VBox([widgets.HTML(f"<i>opening {TITLES[name]} ...</i>")]) for name in PANELS}
        self.tabs = widgets.Tab(children=[self._boxes[n] for n in PANELS])
        self.tabs.titles = tuple(TITLES[n] for n in PANELS)
        self.layout = widgets.VBox([
            widgets.HTML("<h2 style='margin:0.2em 0'>workbench</h2>"),
            widgets.HBox([self.context, widgets.HBox([self.session_path, self.save_button])],
                         layout=widgets.Layout(justify_content="space-between", flex_flow="row wrap")),
            self.model_note,
            *([self.microphone_box] if self.microphone is not None else []),
            self.status, self.tabs,
        ])
        self.layout.add_class("wb-app")

        # --- links (order -1: before the panels see the change; 1: after they acted on it)
        session.observe(self._sync_corpus, ("corpus", "selected_utterance"), order=-1)
        session.observe(self._on_word, "selected_word", order=1)
        session.observe(self._on_span, "selected_span", order=1)
        session.observe(self._show_context, ("corpus", "asr_model", "pretraining_model", "selected_utterance",
                                             "selected_span", "selected_word"), order=2)
        self.tabs.observe(self._on_tab, "selected_index")

        self._show_context()
        first = tab or session.view.get("tab") or "transcribe"
        if first not in PANELS:
            raise WorkbenchError(f"tab={first!r} is not a panel; choose from {', '.join(PANELS)}")
        transcribe = self.panel("transcribe")
        self._opened.add("transcribe")
        if autorun:  # the table is the way in: score the corpus even when another tab opens first
            self._autorun("transcribe", transcribe)
        if not lazy:
            for name in PANELS:
                self._guard(self.panel, name)
        self.open(first)

    # ------------------------------------------------------------------ panels
    def panel(self, name: str):
        """The panel ``name`` (built on first use and given the session's current state)."""
        if name not in PANELS:
            raise WorkbenchError(f"no panel {name!r}; choose from {', '.join(PANELS)}")
        if name not in self.panels:
            self._build(name)
        return self.panels[name]

    def open(self, name: str):
        """Show the tab of ``name`` (building the panel; with ``autorun`` its analysis runs once)."""
        index = PANELS.index(name)
        if self.tabs.selected_index != index:
            self.tabs.selected_index = index  # _on_tab comes back here
            return self.panels.get(name)
        self.session.view["tab"] = name
        panel = self._guard(self.panel, name)
        if panel is not None and name not in self._opened:
            self._opened.add(name)
            if self.autorun and name in ("transcribe", "codebook", "embedding") and panel.result is None:
                self._autorun(name, panel)
        return panel

    @property
    def current(self) -> str:
        """The name of the open tab."""
        return PANELS[self.tabs.selected_index or 0]

    transcribe = property(lambda self: self.panel("transcribe"), doc="The TranscribePanel (built on first use).")
    alignment = property(lambda self: self.panel("alignment"), doc="The AlignmentPanel (built on first use).")
    codebook = property(lambda self: self.panel("codebook"), doc="The CodebookPanel (built on first use).")
    embedding = property(lambda self: self.panel("embedding"), doc="The EmbeddingPanel (built on first use).")
    synthesis = property(lambda self: self.panel("synthesis"), doc="The SynthesisPanel (built on first use).")

    def _factory(self, name: str) -> Callable[[], Any]:
        s, reg, opts = self.session, self.registry, self.panel_options.get(name, {})
        if name == "transcribe":
            from .transcribe import TranscribePanel

            opts = {"root": self.root, **opts}
            return lambda: TranscribePanel(s.corpus, models=tuple(self.asr_models), registry=reg, session=s, **opts)
        if name == "alignment":
            from .alignment import AlignmentPanel

            return lambda: AlignmentPanel(s.corpus, model=s.asr_model, registry=reg, session=s, **opts)
        if name == "codebook":
            from .codebook import CodebookPanel

            return lambda: CodebookPanel(None, model=s.pretraining_model, registry=reg, session=s, **opts)
        if name == "embedding":
            from .embedding import EmbeddingPanel

            return lambda: EmbeddingPanel(None, model=s.asr_model, registry=reg, session=s, **opts)
        from .synthesis import SynthesisPanel

        return lambda: SynthesisPanel(registry=reg, session=s, **opts)

    def _build(self, name: str) -> None:
        factory = self._factory(name)
        with self.session.capture() as observers:
            try:
                panel = factory()
            except Exception as exc:
                for n, cb in observers:  # a half-built panel must not keep reacting
                    self.session.unobserve(cb, n)
                self._boxes[name].children = [widgets.HTML(
                    f"<span style='color:#b00020'>{TITLES[name]} could not open: {html.escape(str(exc))}</span>")]
                raise
        self.panels[name] = panel
        self._observers[name] = observers
        self._adapt(name, panel)
        self._boxes[name].children = [panel.layout]
        self.session.replay(observers)

    def _rebuild(self, name: str) -> None:
        """Drop a built panel (its observers too) and build it again on the current session."""
        for n, cb in self._observers.pop(name, []):
            self.session.unobserve(cb, n)
        self.panels.pop(name, None)
        self._build(name)

    def _adapt(self, name: str, panel) -> None:
        panel.background = self.background
        tidy(panel.layout)  # no broken-image icons or 0:00 players before there is data
        if name == "alignment":
            panel.audio.autoplay = True  # a picked word plays as soon as it is placed

    def _autorun(self, name: str, panel) -> None:
        if self.session.corpus is None or not len(self.session.corpus):
            return
        if name == "transcribe":
            panel.table.index = None  # no first-row selection while the table fills
            panel.selected = self.session.selected_utterance
            panel.start_task(self._score, panel, buttons=(panel.run_button,), label="transcribing",
                             total=len(self.session.corpus) * max(len(panel.model_select.value), 1), cancellable=True)
        else:
            panel.start_run()

    def _score(self, panel) -> None:
        panel.run()
        if self.session.selected_utterance in {v for _, v in panel.table.options}:
            panel.select(self.session.selected_utterance)

    def _guard(self, fn, *args, **kwargs):
        """Run an app action; a WorkbenchError shows in the app's status line."""
        try:
            result = fn(*args, **kwargs)
        except WorkbenchError as exc:
            self.status.value = f'<span style="color:#b00020">{html.escape(str(exc))}</span>'
            return None
        return result

    def _on_tab(self, change) -> None:
        if change["new"] is not None:
            self.open(PANELS[change["new"]])

    # ------------------------------------------------------------------ links
    def _sync_corpus(self, change: Change) -> None:
        """Rescore a grown corpus in the transcribe panel; tell the analysis panels it changed.

        The transcribe and alignment panels follow the session's corpus themselves (their own
        ``corpus`` observers run after this one); the app adds what only it knows: whether the
        table was already scored and should be brought up to date.
        """
        corpus = self.session.corpus
        ids = tuple(corpus.ids()) if corpus is not None else ()
        replaced = change.name == "corpus" and change.old is not corpus
        if not replaced and ids == self._known_ids:
            return
        grown = not replaced and ids[: len(self._known_ids)] == self._known_ids
        self._known_ids = ids
        t = self.panels.get("transcribe")
        if t is not None and (t.result is not None or t.busy):
            if grown:
                t.corpus = corpus  # before the panel's own observer: the rerun scores the grown corpus
                self._autorun("transcribe", t)
            elif replaced:
                t.set_status("the corpus changed: press Run to score it")
        for name in ("codebook", "embedding"):
            p = self.panels.get(name)
            if p is not None and p.result is not None:
                p.set_status("the corpus changed: press Analyse to include the new utterances")

    def _on_word(self, change: Change) -> None:
        """A word picked anywhere: the alignment view goes there; the embedding rings its frames."""
        word = change.new
        if not word:
            return
        uid = word.get("utterance")
        a = self.panels.get("alignment")
        own = a is not None and word is a.selected_word
        if not own:
            fresh = "alignment" not in self.panels
            if fresh:  # building the tab and aligning the word takes a moment: say so at once
                self.status.value = (f"<span style='color:#555'>opening the Alignment tab at "
                                     f"<i>{html.escape(str(word.get('word')))}</i> ...</span>")
            a = self._guard(self.panel, "alignment")
            if a is not None and self.follow:
                self.open("alignment")
            if fresh and a is not None:
                self.status.value = ""
        span = None
        if word.get("start") is not None and word.get("end") is not None:
            span = (float(word["start"]), float(word["end"]))
        elif a is not None and a.selected_word and a.selected_word.get("utterance") == uid \
                and a.selected_word.get("start") is not None:
            span = (float(a.selected_word["start"]), float(a.selected_word["end"]))
        highlight: dict[str, Any] = {"utterance": uid, "word": word.get("word")}
        if span is not None:
            fs = a.analysis.frame_seconds if a is not None and a.analysis is not None and a.analysis.id == uid \
                else FRAME_SECONDS
            highlight.update(start=span[0], end=span[1], start_frame=int(math.floor(span[0] / fs + 1e-6)),
                             end_frame=max(int(math.ceil(span[1] / fs - 1e-6)), int(math.floor(span[0] / fs)) + 1))
        self.session.highlight_frames = highlight

    def _on_span(self, change: Change) -> None:
        if change.new is not None and self.follow:
            self.open("alignment")

    def _show_context(self, change: Change | None = None) -> None:
        s = self.session
        c = s.corpus
        parts = [f"<b>corpus</b> {html.escape(c.name)} ({len(c)} utterances)" if c is not None else "<i>no corpus</i>",
                 f"<b>ASR</b> {html.escape(', '.join(self.asr_models))}",
                 f"<b>pretraining</b> {html.escape(str(s.pretraining_model))}"]
        self.model_note.value = model_badges(self.registry, [*self.asr_models, str(s.pretraining_model)])
        if s.selected_utterance:
            sel = f"<b>selected</b> {html.escape(s.selected_utterance)}"
            if s.selected_span:
                sel += f" {s.selected_span[0]:.2f}-{s.selected_span[1]:.2f} s"
            w = s.selected_word
            if w and w.get("utterance") == s.selected_utterance:
                sel += f" · word <i>{html.escape(str(w.get('word')))}</i>" + (f" ({html.escape(w['op'])})"
                                                                             if w.get("op") else "")
            parts.append(sel)
        self.context.value = " &nbsp;·&nbsp; ".join(parts)

    # ------------------------------------------------------------------ microphone
    def _microphone(self):
        """The Record button and the line that shows what was heard (None without anywidget)."""
        self.heard = widgets.HTML()
        try:
            from .microphone import Microphone
        except ImportError:
            return None
        mic = Microphone(on_audio=self.add_recording)
        self.microphone_box = widgets.HBox([widgets.HTML("<b>your voice</b>&nbsp;"), mic, self.heard],
                                           layout=widgets.Layout(align_items="center"))
        self._recordings = 0
        return mic

    def add_recording(self, audio, sample_rate: int) -> str:
        """A recording (from the microphone) joins the corpus, is transcribed and selected."""
        import numpy as np

        t = self.panel("transcribe")
        self._recordings = getattr(self, "_recordings", 0) + 1
        if self.microphone is not None:
            self.microphone.busy = True
            self.microphone.message = f"transcribing {len(audio) / sample_rate:.1f} s of your voice ..."
        uid = t.add_audio(f"recording-{self._recordings}", np.asarray(audio, dtype=np.float32), sample_rate)
        if self.background:  # the grown corpus is being rescored in the background: report when it ends
            import threading

            threading.Thread(target=self._heard, args=(t, uid), name="workbench-recording", daemon=True).start()
        else:
            self._heard(t, uid)
        return uid

    def _heard(self, t, uid: str) -> None:
        try:
            t.wait()
            if t.result is None or uid not in set(t.result.score.per_utterance["id"]):
                t.start_task(t.run, buttons=(t.run_button,), label="transcribing")
                t.wait()
            row = t.result.score.row(uid) if t.result is not None else {}
            text = row.get("hypothesis")
            self.heard.value = (f"<span class='wb-heard'><b>{html.escape(uid)}</b>: heard "
                                f"“{html.escape(str(text or ''))}”</span>" if text is not None else
                                f"<span style='color:#b00020'>{html.escape(uid)}: no transcript "
                                f"({html.escape(str(row.get('error') or 'see the Transcribe tab'))})</span>")
            t.select(uid)
        finally:
            if self.microphone is not None:
                self.microphone.busy = False
                self.microphone.message = ""

    # ------------------------------------------------------------------ persistence
    def save_session(self, path: str | os.PathLike) -> Path:
        """Write the session (corpus, models, selection, open tab) as JSON (inside ``root`` when set)."""
        if not str(path).strip():
            raise WorkbenchError("give a file name for the session (e.g. workbench-session.json)")
        path = inside(self.root, path, what="session file") if self.root is not None else Path(path)
        if path.suffix.lower() != ".json":
            raise WorkbenchError(f"{path}: a session is saved as .json; end the file name with .json")
        self.session.view["tab"] = self.current
        self.session.view["asr_models"] = list(self.asr_models)
        out = self.session.save(path)
        self.status.value = f'<span style="color:#1b5e20">session saved to {html.escape(str(out))}</span>'
        return out

    @classmethod
    def from_session(cls, path: str | os.PathLike, registry: ModelRegistry | None = None, **kwargs) -> "Workbench":
        """Reopen the view saved by :meth:`save_session` (other keyword arguments as for ``Workbench``)."""
        session = Session.load(path, registry=registry)
        return cls(registry=registry, session=session, **kwargs)

    # ------------------------------------------------------------------ display
    def _ipython_display_(self) -> None:
        from IPython.display import display

        display(self.layout)

    def __repr__(self) -> str:
        built = ", ".join(self.panels) or "none"
        return f"Workbench({self.session!r}, tab={self.current!r}, built: {built})"


# ---------------------------------------------------------------------- `workbench app`
ENV_SESSION, ENV_CORPUS, ENV_MODELS = "WORKBENCH_APP_SESSION", "WORKBENCH_APP_CORPUS", "WORKBENCH_APP_MODELS"
ENV_AUTORUN, ENV_WORKDIR = "WORKBENCH_APP_AUTORUN", "WORKBENCH_APP_WORKDIR"
ENV_DECODER, ENV_LM = "WORKBENCH_APP_DECODER", "WORKBENCH_APP_LM"


def from_environment(*, registry: ModelRegistry | None = None, **kwargs) -> Workbench:
    """The app as ``workbench app`` asked for it through ``WORKBENCH_APP_*`` variables (a saved
    session, a corpus path, models as JSON whose values may be local checkpoint paths);
    ``WORKBENCH_APP_AUTORUN=0`` opens it without running anything; ``WORKBENCH_APP_DECODER``
    (greedy, beam, both) and ``WORKBENCH_APP_LM`` set the transcribe panel's decoder; with none
    set, the default corpus and models."""
    import json

    reg = resolve(registry)
    kwargs.setdefault("background", True)
    if os.environ.get(ENV_WORKDIR):
        kwargs.setdefault("root", os.environ[ENV_WORKDIR])
    if os.environ.get(ENV_AUTORUN) == "0":
        kwargs.setdefault("autorun", False)
    decoding = {k: os.environ[v] for k, v in (("decoder", ENV_DECODER), ("lm", ENV_LM)) if os.environ.get(v)}
    if decoding:  # the transcribe panel's starting decoder and its LM
        options = {k: dict(v) for k, v in (kwargs.pop("panel_options", None) or {}).items()}
        options["transcribe"] = {**decoding, **options.get("transcribe", {})}
        kwargs["panel_options"] = options
    if os.environ.get(ENV_SESSION):
        return Workbench.from_session(os.environ[ENV_SESSION], registry=reg, **kwargs)
    models = json.loads(os.environ.get(ENV_MODELS) or "{}")
    if models.get("asr"):
        asr = models["asr"] if isinstance(models["asr"], list) else [models["asr"]]
        models["asr"] = [reg.name_for(m) for m in asr]
    if models.get("pretraining"):
        models["pretraining"] = reg.name_for(models["pretraining"])
    return Workbench(os.environ.get(ENV_CORPUS) or None, models=models or None, registry=reg, **kwargs)
