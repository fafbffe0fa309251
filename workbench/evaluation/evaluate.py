"""Evaluate one or more CTC models on a corpus: ``engine.analyze`` once per model, then scoring.

An utterance whose analysis failed (bad audio, ...) stays in the tables as an error row and
is left out of the figures; every other utterance is still scored.  With two or more models
the result also holds :func:`~workbench.scoring.compare.compare_systems` of them (first = baseline).
"""
from __future__ import annotations

import os

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from ..scoring.compare import Comparison, compare_systems
from ..data.corpus import Corpus
from ..scoring.wer import CorpusScore, score_corpus


@dataclass
class Evaluation:
    """Scores (and the analyses they came from) of each model on one corpus."""

    corpus: Corpus
    scores: dict[str, CorpusScore]
    analyses: dict[str, object] = field(repr=False)  # model -> engine.AnalysisResult
    comparison: Comparison | None = None
    provenance: dict = field(default_factory=dict)

    @property
    def models(self) -> list[str]:
        return list(self.scores)

    @property
    def score(self) -> CorpusScore:
        """The first (baseline) model's scores."""
        return self.scores[self.models[0]]

    def __getitem__(self, model: str) -> CorpusScore:
        return self.scores[model]

    def vocab(self, model: str | None = None) -> list[str]:
        """The model's token vocabulary (for ``CorpusScore.char_confusion``)."""
        items = list(self.analyses[model or self.models[0]])
        return list(items[0].vocab) if items else []

    def to_frame(self):
        """Corpus figures, one row per model."""
        import pandas as pd

        return pd.concat([s.to_frame() for s in self.scores.values()], ignore_index=True)

    def per_utterance(self):
        """Every model's per-utterance rows, stacked, with a ``system`` column first."""
        import pandas as pd

        return pd.concat([s.per_utterance.assign(system=name)[["system", *s.per_utterance.columns]]
                          for name, s in self.scores.items()], ignore_index=True)

    def summary(self) -> str:
        lines = [s.summary() for s in self.scores.values()]
        if self.comparison is not None:
            lines.append(self.comparison.summary())
        return "\n".join(lines)

    def __repr__(self) -> str:
        return f"Evaluation({self.corpus.name!r}, {len(self.corpus)} utterances)\n{self.summary()}"

    def _repr_html_(self) -> str:
        parts = [s._repr_html_() for s in self.scores.values()]
        if self.comparison is not None:
            parts.append(self.comparison._repr_html_())
        return "".join(parts)

    def report(self, *, title: str | None = None, worst: int = 10, audio: int = 3):
        """A :class:`~workbench.reports.report.Report`: figures, tables, the ``worst`` utterances with
        diffs (``audio`` of them with a player), error rows, provenance."""
        from ..reports.evaluation import evaluation_report

        return evaluation_report(self, title=title, worst=worst, audio=audio)

    def save(self, directory: str | Path, *, report: bool = True, audio: int = 3) -> Path:
        """per_utterance.csv/.jsonl (all models), corpus.csv/.json, one folder of tables per model,
        comparison_* files when 2+ models, and report.html."""
        out = Path(directory)
        out.mkdir(parents=True, exist_ok=True)
        from ..data.tables import write_csv  # spreadsheet-safe: formula-like cells get a leading '

        per = self.per_utterance()
        write_csv(per, out / "per_utterance.csv")
        per.to_json(out / "per_utterance.jsonl", orient="records", lines=True, force_ascii=False)
        corpus = self.to_frame()
        write_csv(corpus, out / "corpus.csv")
        (out / "corpus.json").write_text(json.dumps(
            {"corpus": self.corpus.name, "source": self.corpus.source,
             "systems": json.loads(corpus.to_json(orient="records")),
             "notes": {name: s.notes for name, s in self.scores.items()}, "provenance": self.provenance},
            indent=2, default=str, ensure_ascii=False))
        for name, s in self.scores.items():
            s.save(out / _safe_name(name))
        if self.comparison is not None:
            self.comparison.save(out)
        if report:
            self.report(audio=audio).save(out / "report.html")
        return out


def _safe_name(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", name).strip("_") or "model"


def evaluate(corpus, models: str | list[str] | tuple[str, ...] = "w2v2-tiny-ctc", *, registry=None,
             normalizer=None, n_boot: int = 1000, seed: int = 0,
             on_progress: Callable[[int, int], None] | None = None, progress_step: int = 16,
             decoder: str | None = None, lm: str | None = None, **analyze_kw) -> Evaluation:
    """Analyse ``corpus`` (a Corpus or anything ``engine.as_corpus`` takes) with each model and score it.

    ``on_progress(done, total)`` is called as utterances finish (total = utterances x models);
    when given, the corpus is analysed in slices of ``progress_step`` utterances.  Other
    keywords go to :func:`workbench.asr.engine.analyze` (``batch_size``, ``device``, ``dtype``...),
    except the decoding options: ``decoder="beam"``, ``lm=`` (a registry name such as ``demo-lm`` or
    an ARPA/KenLM file), ``beam_width``, ``alpha``, ``beta``, ``unigrams``, ``hotwords``
    (:mod:`workbench.asr.decoding`); the scores are then those of the beam transcripts.
    """
    from ..asr import engine
    from ..asr.decoding import decode_result, resolve_weights, split_options
    from ..data.corpus import as_corpus
    from ..provenance import collect
    from ..models.registry import resolve

    decoding, analyze_kw = split_options({**analyze_kw, "decoder": decoder, "lm": lm})
    reg = resolve(registry)
    decoding = resolve_weights(decoding, reg)  # the provenance records the weights used
    corpus = as_corpus(corpus)
    names = [models] if isinstance(models, (str, os.PathLike)) else list(models)
    if not names:
        raise ValueError("evaluate needs at least one model name")
    names = [reg.name_for(n) for n in names]  # a checkpoint folder or .onnx path works as a name
    total = len(corpus) * len(names)
    scores, analyses, revisions = {}, {}, {}
    for m, name in enumerate(names):
        if on_progress is None:
            result = engine.analyze(corpus, name, registry=reg, **analyze_kw)
        else:
            items = []
            if m == 0:
                on_progress(0, total)
            for start in range(0, len(corpus), max(1, progress_step)):
                part = Corpus(corpus.utterances[start:start + progress_step], name=corpus.name, source=corpus.source)
                items.extend(engine.analyze(part, name, registry=reg, **analyze_kw).items)
                on_progress(m * len(corpus) + min(start + progress_step, len(corpus)), total)
            result = engine.AnalysisResult(items, model=items[0].model if items else name, corpus=corpus)
        analyses[name] = result
        revision = next((a.revision for a in result), None)
        revisions[name] = revision
        refs = {a.id: a.reference for a in result}
        hyps = decode_result(result, registry=reg, options=decoding)
        errors = {a.id: a.error for a in result if not a.ok}
        speakers = {a.id: a.speaker for a in result}
        scores[name] = score_corpus(refs, hyps, normalizer=normalizer, speakers=speakers, errors=errors,
                                    name=name if not decoding.beam else f"{name} ({decoding.label()})",
                                    n_boot=n_boot, seed=seed,
                                    provenance={"model": name, "revision": revision, "corpus": corpus.name,
                                                "corpus_source": corpus.source,
                                                "analyze_options": {k: str(v) for k, v in analyze_kw.items()},
                                                "decoding": decoding.describe()})
    comparison = compare_systems(scores) if len(scores) > 1 else None
    prov = collect(revisions, corpus=corpus.name, corpus_source=corpus.source, utterances=len(corpus),
                   normalizer=scores[names[0]].normalizer, n_boot=n_boot, seed=seed, decoding=decoding.describe())
    return Evaluation(corpus=corpus, scores=scores, analyses=analyses, comparison=comparison, provenance=prov)
