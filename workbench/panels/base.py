"""What every panel shares: a root widget, a status line, figure and HTML helpers."""
from __future__ import annotations

import html
import io
from typing import Any

import ipywidgets as widgets

from ..errors import WorkbenchError
from ..models.registry import ModelRegistry, resolve


class Panel:
    """Base class: ``self.layout`` is the root widget; workbench errors go to ``self.status``."""

    title = "panel"

    def __init__(self, *, registry: ModelRegistry | None = None, session=None) -> None:
        self.registry = resolve(registry)
        self.session = session
        self.status = widgets.HTML(value="", layout=widgets.Layout(min_height="1.5em"))
        self.result: Any = None
        self.layout: widgets.Widget = widgets.VBox()

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

    def _ipython_display_(self) -> None:
        from IPython.display import display

        display(self.layout)


def figure_widget(fig, *, fmt: str = "png", width: str | None = None) -> widgets.Image:
    """A matplotlib figure as an Image widget (the figure is closed afterwards)."""
    import matplotlib.pyplot as plt

    buf = io.BytesIO()
    fig.savefig(buf, format=fmt, bbox_inches="tight", dpi=96)
    plt.close(fig)
    img = widgets.Image(value=buf.getvalue(), format=fmt)
    if width:
        img.layout.width = width
    return img


def set_figure(image: widgets.Image, fig) -> None:
    """Replace an Image widget's picture with a new figure."""
    import matplotlib.pyplot as plt

    buf = io.BytesIO()
    fig.savefig(buf, format="png", bbox_inches="tight", dpi=96)
    plt.close(fig)
    image.value = buf.getvalue()


def audio_widget(audio, sample_rate: int, *, autoplay: bool = False) -> widgets.Audio:
    """A WAV-encoded Audio widget."""
    import soundfile as sf

    buf = io.BytesIO()
    sf.write(buf, audio, sample_rate, format="WAV", subtype="PCM_16")
    return widgets.Audio(value=buf.getvalue(), format="wav", autoplay=autoplay, loop=False)


def wav_bytes(audio, sample_rate: int) -> bytes:
    import soundfile as sf

    buf = io.BytesIO()
    sf.write(buf, audio, sample_rate, format="WAV", subtype="PCM_16")
    return buf.getvalue()
