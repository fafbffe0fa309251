"""What every panel shares: a root widget, a status line, a progress row for long actions,
figure/HTML helpers and empty states.

Long actions go through :meth:`Panel.start_task`: the button that started it is disabled,
a progress bar with counts (and a Cancel button where the action runs in steps) shows, and
the action runs in a background thread when ``panel.background`` is true (the served app),
so the page stays responsive; otherwise it runs in the caller's thread (notebooks, tests).
"""
from __future__ import annotations

import html
import io
import logging
import threading
import time
from typing import Any, Callable

import ipywidgets as widgets

from ..errors import WorkbenchError
from ..models.registry import ModelRegistry, resolve

log = logging.getLogger(__name__)
#: figures are drawn at this DPI and shown at their natural size (no stretching in the page)
PAGE_DPI = 110


class Cancelled(WorkbenchError):
    """The user pressed Cancel while a long action ran."""


class Progress:
    """A progress row: bar, ``done/total unit · seconds`` and a Cancel button; hidden when idle."""

    def __init__(self, *, width: str = "260px") -> None:
        self.bar = widgets.IntProgress(value=0, min=0, max=1, layout=widgets.Layout(width=width))
        self.text = widgets.HTML()
        self.cancel_button = widgets.Button(description="Cancel", icon="stop", disabled=True,
                                            layout=widgets.Layout(width="auto"))
        self.box = widgets.HBox([self.bar, self.text, self.cancel_button],
                                layout=widgets.Layout(display="none", align_items="center"))
        self.box.add_class("wb-progress")
        self._cancel = threading.Event()
        self._t0 = time.monotonic()
        self._label = ""
        self.cancel_button.on_click(lambda _: self.cancel())

    @property
    def value(self) -> int:
        return self.bar.value

    @property
    def max(self) -> int:
        return self.bar.max

    def start(self, label: str, *, total: int | None = None, cancellable: bool = False) -> None:
        self._cancel.clear()
        self._t0 = time.monotonic()
        self._label = label
        self.box.layout.display = None
        self.bar.bar_style = "info"
        self.bar.max = max(total or 1, 1)
        self.bar.value = 0
        self.text.value = f"<span style='color:#555'>{html.escape(label)} ...</span>"
        self.cancel_button.disabled = not cancellable
        self.cancel_button.layout.display = None if cancellable else "none"

    def update(self, done: int, total: int, unit: str = "utterances") -> None:
        """Show ``done`` of ``total``; raises :class:`Cancelled` when Cancel was pressed."""
        self.check()
        self.bar.max = max(int(total), 1)
        self.bar.value = min(int(done), self.bar.max)
        secs = time.monotonic() - self._t0
        self.text.value = (f"<span style='color:#555'>{html.escape(self._label)}: "
                           f"<b>{int(done)}/{int(total)}</b> {html.escape(unit)} · {secs:.0f} s</span>")

    def check(self) -> None:
        if self._cancel.is_set():
            raise Cancelled(f"{self._label}: cancelled")

    def cancel(self) -> None:
        self._cancel.set()
        self.cancel_button.disabled = True
        self.text.value = f"<span style='color:#555'>{html.escape(self._label)}: cancelling ...</span>"

    def finish(self) -> None:
        self.cancel_button.disabled = True
        self.box.layout.display = "none"


class Panel:
    """Base class: ``self.layout`` is the root widget; workbench errors go to ``self.status``."""

    title = "panel"
    #: run long actions in a background thread (the served app sets it; notebooks/tests run inline)
    background = False

    def __init__(self, *, registry: ModelRegistry | None = None, session=None) -> None:
        self.registry = resolve(registry)
        self.session = session
        self.status = widgets.HTML(value="", layout=widgets.Layout(min_height="1.5em"))
        self.progress_row = Progress()
        self.result: Any = None
        self.layout: widgets.Widget = widgets.VBox()
        self._task: threading.Thread | None = None

    def set_status(self, text: str, *, kind: str = "info") -> None:
        colour = {"info": "#555", "error": "#b00020", "ok": "#1b5e20"}[kind]
        self.status.value = f'<span style="color:{colour}">{html.escape(text)}</span>'

    def guarded(self, fn, *args, **kwargs):
        """Run a core call; a WorkbenchError shows in the status line, anything else propagates."""
        try:
            return fn(*args, **kwargs)
        except WorkbenchError as exc:
            self.set_status(str(exc), kind="error")
            return None

    # ------------------------------------------------------------------ long actions
    @property
    def busy(self) -> bool:
        """Whether a long action is running."""
        return self._task is not None and self._task.is_alive()

    def start_task(self, fn: Callable, *args, buttons=(), label: str = "working", total: int | None = None,
                   cancellable: bool = False, **kwargs):
        """Run a long action: ``buttons`` disabled and the progress row shown until it ends.

        Inline (``background`` false) it returns ``fn``'s result; in the background it returns
        the thread.  A WorkbenchError (Cancel included) shows in the status line; in the
        background an unexpected error shows there too (nothing else would see it)."""
        if self.busy:
            self.set_status(f"{label}: still running the previous action; wait or press Cancel")
            return None
        before = [b.disabled for b in buttons]
        for b in buttons:
            b.disabled = True
        self.progress_row.start(label, total=total, cancellable=cancellable)

        def work():
            try:
                return self.guarded(fn, *args, **kwargs)
            except Exception as exc:
                if not self.background:
                    raise
                log.exception("%s failed", label)
                self.set_status(f"{label} failed: {type(exc).__name__}: {exc}", kind="error")
                return None
            finally:
                self.progress_row.finish()
                for b, was in zip(buttons, before):
                    b.disabled = was

        if not self.background:
            return work()
        self._task = threading.Thread(target=work, name=f"workbench-{label}", daemon=True)
        self._task.start()
        return self._task

    def start_run(self):
        """What the panel's main button does: ``run`` with the button disabled, progress and Cancel."""
        return self.start_task(self.run, buttons=(self.run_button,), label=f"{self.title}: analysing",
                               cancellable=True)

    def analyze_steps(self, corpus, model: str, **kw):
        """``engine.analyze`` one utterance at a time (the disk cache makes repeats free), so the
        progress row counts utterances and Cancel stops between them."""
        from ..asr.engine import AnalysisResult, analyze
        from ..data.corpus import Corpus

        items, n = [], len(corpus)
        self.progress_row.update(0, n, unit=f"utterances · {model}")
        for i, utt in enumerate(corpus.utterances):
            part = Corpus([utt], name=corpus.name, source=corpus.source)
            items.extend(analyze(part, model, registry=self.registry, progress=False, **kw).items)
            self.progress_row.update(i + 1, n, unit=f"utterances · {model}")
        return AnalysisResult(items, model=items[0].model if items else model, corpus=corpus)

    def wait(self, timeout: float | None = None) -> None:
        """Block until the running long action (if any) ends."""
        if self._task is not None:
            self._task.join(timeout)

    def _ipython_display_(self) -> None:
        from IPython.display import display

        display(self.layout)


# ---------------------------------------------------------------------- empty states
def hide_when_empty(widget: widgets.Widget) -> widgets.Widget:
    """Hide an Image/Audio widget while it holds no data (no broken-image icon, no 0:00 player)."""
    def sync(_=None):
        widget.layout.display = None if widget.value else "none"

    sync()
    widget.observe(sync, "value")
    return widget


def tidy(root: widgets.Widget) -> widgets.Widget:
    """Apply :func:`hide_when_empty` to every Image and Audio widget under ``root``."""
    seen = set()
    stack = [root]
    while stack:
        w = stack.pop()
        if id(w) in seen:
            continue
        seen.add(id(w))
        if isinstance(w, (widgets.Image, widgets.Audio)):
            hide_when_empty(w)
        stack.extend(getattr(w, "children", ()) or ())
    return root


def empty_state(text: str) -> widgets.HTML:
    """An explanatory line shown where a result will appear."""
    return widgets.HTML(f"<div class='wb-empty' style='color:#666;font-style:italic;padding:0.6em 0'>"
                        f"{html.escape(text)}</div>")


# ---------------------------------------------------------------------- figures and audio
def _png(fig, fmt: str = "png") -> bytes:
    import matplotlib.pyplot as plt

    buf = io.BytesIO()
    fig.savefig(buf, format=fmt, bbox_inches="tight", dpi=PAGE_DPI)
    plt.close(fig)
    return buf.getvalue()


def figure_widget(fig, *, fmt: str = "png", width: str | None = None) -> widgets.Image:
    """A matplotlib figure as an Image widget (the figure is closed afterwards)."""
    img = widgets.Image(value=_png(fig, fmt), format=fmt, layout=widgets.Layout(max_width="100%"))
    if width:
        img.layout.width = width
    return img


def set_figure(image: widgets.Image, fig) -> None:
    """Replace an Image widget's picture with a new figure (drawn at :data:`PAGE_DPI`, shown at
    its natural size: never stretched wider than drawn)."""
    image.value = _png(fig)
    image.layout.max_width = "100%"
    image.layout.display = None


def audio_widget(audio, sample_rate: int, *, autoplay: bool = False) -> widgets.Audio:
    """A WAV-encoded Audio widget."""
    return widgets.Audio(value=wav_bytes(audio, sample_rate), format="wav", autoplay=autoplay, loop=False)


def wav_bytes(audio, sample_rate: int) -> bytes:
    import soundfile as sf

    buf = io.BytesIO()
    sf.write(buf, audio, sample_rate, format="WAV", subtype="PCM_16")
    return buf.getvalue()


def download_link(data: bytes | str, filename: str, *, label: str | None = None, mime: str = "application/octet-stream"
                  ) -> str:
    """An HTML ``<a download>`` link carrying ``data`` inline (no server path involved)."""
    import base64

    raw = data.encode("utf-8") if isinstance(data, str) else data
    href = f"data:{mime};base64,{base64.b64encode(raw).decode('ascii')}"
    return (f"<a class='wb-download' download='{html.escape(filename)}' href='{href}' "
            f"style='margin-right:1em'>⬇ {html.escape(label or filename)}</a>")
