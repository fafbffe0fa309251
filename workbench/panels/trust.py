"""What the app says about a model before and beside its results: which models can run here,
why the others cannot (and how to get them), and labels for demo and random-weight models.

Read-only look-ups (the catalogue, ``available_offline``, the demo checkpoints' own
``metrics.json``); nothing is loaded or computed.
"""
from __future__ import annotations

import html
import json
from functools import cache

from ..models.registry import ModelRegistry

DEMO_LABEL = "demo model trained on synthetic speech only"
RANDOM_LABEL = "random weights: its output is meaningless (speed benchmarks only)"


@cache
def _demo_figures() -> dict:
    from ..models.specs import PACKAGE_CHECKPOINTS

    try:
        return json.loads((PACKAGE_CHECKPOINTS / "metrics.json").read_text()).get("figures", {})
    except (OSError, ValueError):
        return {}


def demo_wer_text() -> str | None:
    """``"held-out WER 72.7% (95% CI 68.0-77.7%) on 60 Kokoro utterances"`` from metrics.json."""
    figures = _demo_figures()
    ctc = figures.get("ctc") or {}
    if "wer" not in ctc:
        return None
    ci = ctc.get("wer_ci95")
    n = (figures.get("eval_set") or {}).get("utterances")
    text = f"held-out WER {ctc['wer']:.1%}"
    if ci:
        text += f" (95% CI {ci[0]:.1%}–{ci[1]:.1%})"
    if n:
        text += f" on {n} synthetic utterances"
    return text


def model_label(registry: ModelRegistry, name: str) -> str | None:
    """A plain-text warning for demo and random-weight models (None for anything else)."""
    try:
        spec = registry.spec(name)
    except Exception:
        return None
    if spec.source == "random-init":
        return RANDOM_LABEL
    if spec.source == "package":
        wer = demo_wer_text() if spec.kind == "ctc" else None
        return DEMO_LABEL + (f"; {wer}" if wer else "")
    return None


def model_badges(registry: ModelRegistry, names) -> str:
    """HTML: one line per labelled model in ``names`` (empty when none needs a label)."""
    lines = []
    for name in dict.fromkeys(names):
        label = model_label(registry, name)
        if label:
            lines.append(f"<div class='wb-model-note' style='color:#8a5a00'>⚠ <b>{html.escape(name)}</b>: "
                         f"{html.escape(label)}</div>")
    return "".join(lines)


def model_note(registry: ModelRegistry, picker):
    """An HTML widget with the badges of ``picker``'s model, kept current as the picker changes."""
    import ipywidgets as widgets

    note = widgets.HTML(model_badges(registry, [picker.value]))
    picker.observe(lambda ch: setattr(note, "value", model_badges(registry, [ch["new"]])), "value")
    return note


def runnable(registry: ModelRegistry, kind: str, *, keep=()) -> tuple[list[tuple[str, str]], str]:
    """``(options, note)``: the ``kind`` models that can run here as ``(label, name)`` options
    (demo and random-weight ones labelled), and an HTML note naming the others, why they cannot
    run and how to get them.  Names in ``keep`` (the ones the app was given) always stay."""
    options, missing = [], []
    for name in dict.fromkeys([*keep, *registry.names(kind=kind)]):
        ok = name in keep or _offline(registry, name)
        if not ok:
            missing.append(name)
            continue
        try:
            spec = registry.spec(name)
        except Exception:  # a path given to the app: no catalogue entry, no label
            spec = None
        tag = " (random weights)" if spec is not None and spec.source == "random-init" else \
            " (demo)" if spec is not None and spec.source == "package" else ""
        options.append((name + tag, name))
    note = ""
    if missing:
        note = ("<div class='wb-missing' style='color:#555;font-size:90%'>Not on this machine: "
                + ", ".join(f"<code>{html.escape(m)}</code>" for m in missing)
                + f". Get them with <code>workbench fetch {html.escape(' '.join(missing))}</code> "
                  "(needs internet once), or copy a Hugging Face cache that has them.</div>")
    return options, note


def _offline(registry: ModelRegistry, name: str) -> bool:
    try:
        return bool(registry.available_offline(name))
    except Exception:
        return False
