"""Comparative evaluation reports from notebook-free runs: systems = a model in a precision.

    systems = parse_systems(["w2v2-tiny-ctc", "w2v2-tiny-ctc@int8"])   # fp32 vs int8
    ev = evaluate_systems(corpus, systems)                              # one Evaluation, paired tests
    build_evaluation_report(ev).save("report.html")                     # self-contained HTML

A *system* is what a comparison row stands for: a registry model run in one dtype on one
device (``NAME@int8`` on the command line).  :func:`evaluate_systems` scores each system with
:func:`workbench.evaluation.evaluate` (the same code path as ``workbench evaluate``) and joins
them with :func:`workbench.compare.compare_systems` (paired bootstrap, McNemar, sign test).
:func:`build_evaluation_report` takes the evaluation's own report (corpus figures with
intervals, paired tests, per-speaker tables, worst utterances with diffs and audio) and adds
what the systems were and the forced alignments of the worst utterances.  ``workbench report``
and ``workbench demo`` build their documents here.
"""
from __future__ import annotations

import html
from dataclasses import dataclass
from typing import Callable, Iterable

from .errors import WorkbenchError
from .report import Report

DTYPE_LABELS = {"float32": "fp32", "int8": "int8", "bfloat16": "bf16", "float16": "fp16"}


@dataclass(frozen=True)
class System:
    """One ASR system of a comparison: registry ``model`` run in ``dtype`` on ``device``."""

    model: str
    dtype: str = "float32"
    device: str = "auto"
    label: str | None = None

    @property
    def name(self) -> str:
        """The label the tables use (``model`` for float32, ``model@int8`` otherwise)."""
        if self.label:
            return self.label
        return self.model if self.dtype == "float32" else f"{self.model}@{self.dtype}"


def parse_system(value: "str | System | tuple") -> System:
    """``"NAME"``, ``"NAME@int8"`` (any of float32, int8, bfloat16, float16), a (name, dtype) pair or a System."""
    from .w2v2 import DTYPES

    if isinstance(value, System):
        return value
    if isinstance(value, tuple):
        return System(*value)
    text = str(value)
    name, sep, dtype = text.rpartition("@")
    if not sep:
        return System(text)
    dtype = {"fp32": "float32", "bf16": "bfloat16", "fp16": "float16"}.get(dtype, dtype)
    if dtype not in DTYPES:
        raise WorkbenchError(f"system {text!r}: unknown precision {dtype!r} after '@'; use one of {', '.join(DTYPES)}")
    if not name:
        raise WorkbenchError(f"system {text!r}: no model name before '@'")
    # int8 is torch dynamic quantization, which runs on the CPU only
    return System(name, dtype, "cpu" if dtype in ("int8", "bfloat16") else "auto")


def parse_systems(values: "str | Iterable") -> list[System]:
    """Systems from names (see :func:`parse_system`); labels must be unique."""
    systems = [parse_system(values)] if isinstance(values, (str, System)) else [parse_system(v) for v in values]
    if not systems:
        raise WorkbenchError("no systems given: name at least one model")
    seen: set[str] = set()
    for s in systems:
        if s.name in seen:
            raise WorkbenchError(f"system {s.name!r} is given twice; each system must differ in model or precision")
        seen.add(s.name)
    return systems


def evaluate_systems(corpus, systems, *, registry=None, normalizer=None, n_boot: int = 1000, seed: int = 0,
                     on_progress: Callable[[int, int], None] | None = None, batch_size: int = 8,
                     progress: bool | None = None):
    """Score every system on ``corpus``; an :class:`~workbench.evaluation.Evaluation` keyed by system name.

    Each system runs through :func:`workbench.evaluation.evaluate` with its own dtype and device;
    with two or more, ``comparison`` holds the paired tests against the first (the baseline).
    ``provenance`` records each system's model, dtype, device and revision.
    """
    from . import engine
    from .compare import compare_systems
    from .evaluation import Evaluation, evaluate
    from .provenance import collect
    from .registry import resolve

    reg = resolve(registry)
    corpus = engine.as_corpus(corpus)
    systems = parse_systems(systems)
    scores, analyses, revisions, described = {}, {}, {}, {}
    for k, system in enumerate(systems):
        step = None
        if on_progress is not None:
            step = lambda done, total, k=k: on_progress(k * len(corpus) + done, len(systems) * len(corpus))  # noqa: E731
        ev = evaluate(corpus, system.model, registry=reg, normalizer=normalizer, n_boot=n_boot, seed=seed,
                      on_progress=step, dtype=system.dtype, device=system.device, batch_size=batch_size,
                      progress=progress)
        score = ev.score
        score.name = system.name
        score.provenance = {**score.provenance, "system": system.name, "dtype": system.dtype, "device": system.device}
        scores[system.name] = score
        analyses[system.name] = ev.analyses[system.model]
        revisions[system.name] = ev.provenance["models"].get(system.model)
        spec = reg.spec(system.model)
        described[system.name] = {"model": spec.name, "dtype": system.dtype, "device": system.device,
                                  "revision": revisions[system.name], "source": f"{spec.source}: {spec.location}"}
    comparison = compare_systems(scores) if len(scores) > 1 else None
    first = scores[systems[0].name]
    prov = collect(revisions, corpus=corpus.name, corpus_source=corpus.source, utterances=len(corpus),
                   normalizer=first.normalizer, n_boot=n_boot, seed=seed, systems=described)
    return Evaluation(corpus=corpus, scores=scores, analyses=analyses, comparison=comparison, provenance=prov)


def systems_table(evaluation):
    """One row per system: model, dtype, device, revision, source (from the evaluation's provenance)."""
    import pandas as pd

    described = evaluation.provenance.get("systems") or {
        name: {"model": name, "dtype": "float32", "device": "", "revision": rev, "source": ""}
        for name, rev in evaluation.provenance.get("models", {}).items()}
    return pd.DataFrame([{"system": name, **info} for name, info in described.items()],
                        columns=["system", "model", "dtype", "device", "revision", "source"])


def add_alignments(rep: Report, evaluation, *, system: str | None = None, worst: int = 3) -> Report:
    """Forced alignments (waveform, emissions with the path, blank probability) of the ``worst``
    utterances of ``system`` (default: the baseline), with the words' times and confidences and
    where each WER error sits."""
    from .align_errors import localize_errors
    from .alignment import forced_align
    from .plots.alignment import plot_alignment_overview

    system = system or evaluation.models[0]
    score = evaluation[system]
    analyses = evaluation.analyses[system]
    rep.heading(f"Alignments of the {worst} worst utterances ({system})")
    rep.text("Forced alignment of the reference text to the model's emissions (Viterbi over the CTC trellis; "
             "frames of 20 ms). Words are coloured by their WER operation; a word's confidence is the mean "
             "posterior of its letters on the frames the path gives them.")
    for _, row in score.worst(worst).iterrows():
        uid = str(row["id"])
        try:
            analysis = analyses[uid]
            fa = forced_align(analysis, drop_unknown=True)
            errors = localize_errors(analysis, forced=fa)
            audio = evaluation.corpus[uid].load(analysis.sample_rate)
            rep.heading(f"{uid}: WER {row['wer']:.1%}", level=3)
            rep.html(f"<p>reference as written: <i>{html.escape(str(analysis.reference or ''))}</i><br>"
                     f"model heard: <i>{html.escape(analysis.transcript)}</i></p>")
            rep.html(score.diff(uid, html=True))
            rep.figure(plot_alignment_overview(fa, audio=audio, errors=errors),
                       caption=f"{uid}: forced alignment of the reference ({fa.summary()})")
            rep.table(fa.to_frame()[["word", "start", "end", "confidence", "low_confidence"]],
                      caption="aligned reference words (seconds)", float_format="{:.3f}")
            if len(errors):
                cols = [c for c in ("op", "ref", "hyp", "start", "end", "ref_confidence", "heard") if c in errors]
                rep.table(errors[cols], caption="where the errors sit", float_format="{:.3f}")
        except WorkbenchError as exc:  # one utterance that cannot be aligned never loses the others
            rep.text(f"{uid}: not aligned ({exc})")
        except Exception as exc:  # nor does a figure that fails to draw: the report says why
            rep.text(f"{uid}: alignment not drawn ({exc.__class__.__name__}: {exc})")
    return rep


def build_evaluation_report(evaluation, *, title: str | None = None, worst: int = 10, audio: int = 3,
                            alignments: int = 3) -> Report:
    """The self-contained HTML report of an evaluation: which systems, corpus figures with 95%
    intervals, paired tests, per-speaker tables, the ``worst`` utterances with diffs (``audio`` with a
    player) and the forced alignments of the ``alignments`` worst; provenance at the end."""
    rep = evaluation.report(title=title, worst=worst, audio=audio)
    intro = Report(rep.title)
    intro.heading("Systems").table(systems_table(evaluation), caption="each system is a model in one precision")
    rep.blocks[:0] = intro.blocks
    if alignments:
        add_alignments(rep, evaluation, worst=alignments)
    return rep

