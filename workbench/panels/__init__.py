"""ipywidgets panels over the core.  Panels only call the core and draw; their state lives on
the panel (``panel.result``, widget values) so they also work in Voilà."""
from __future__ import annotations

__all__ = ["TranscribePanel", "AlignmentPanel", "CodebookPanel", "EmbeddingPanel", "SynthesisPanel", "Workbench"]

_WHERE = {"TranscribePanel": "transcribe", "AlignmentPanel": "alignment", "CodebookPanel": "codebook",
          "EmbeddingPanel": "embedding", "SynthesisPanel": "synthesis", "Workbench": "app"}


def __getattr__(name: str):
    if name in _WHERE:
        import importlib

        return getattr(importlib.import_module(f"{__name__}.{_WHERE[name]}"), name)
    raise AttributeError(name)
