"""Systems: a registry model run in one precision on one device (``NAME@int8`` on the command line).

    systems = parse_systems(["w2v2-tiny-ctc", "w2v2-tiny-ctc@int8"])   # fp32 vs int8
    ev = evaluate_systems(corpus, systems)                              # one Evaluation, paired tests

:func:`evaluate_systems` scores each system with :func:`workbench.evaluation.evaluate.evaluate`
(the same code path as ``workbench evaluate``) and joins them with
:func:`workbench.scoring.compare.compare_systems` (paired bootstrap, McNemar, sign test).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Iterable

from ..errors import WorkbenchError

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
    from ..models.w2v2 import DTYPES

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
                     on_progress: Callable[[int, int], None] | None = None, batch_size: int | None = None,
                     progress: bool | None = None):
    """Score every system on ``corpus``; an :class:`~workbench.evaluation.Evaluation` keyed by system name.

    Each system runs through :func:`workbench.evaluation.evaluate` with its own dtype and device;
    with two or more, ``comparison`` holds the paired tests against the first (the baseline).
    ``provenance`` records each system's model, dtype, device and revision.
    """
    from ..asr import engine
    from .evaluate import Evaluation, evaluate
    from ..models.registry import resolve
    from ..provenance import collect
    from ..scoring.compare import compare_systems

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
