"""``workbench demo``: the whole workbench once, offline, on the default corpus and models.

    result = run_demo("workbench-demo", quick=True)   # prints one line per step
    result.ok, result.to_frame(), result.report_path

Steps (each prints one line with its key figure; a failing step is reported and the others
still run; a step whose input failed is skipped with the reason):

1. ``corpus``      load ``datasets/kokoro-eval`` (Kokoro speech with reference text and word timings)
2. ``evaluate``    the CTC model in float32 and int8: WER with 95% intervals, paired tests
3. ``align``       forced alignment of every utterance; word times vs Kokoro's own timings
4. ``codebook``    quantizer code usage and perplexity of the pretraining model, codes vs characters
5. ``embeddings``  the layer-wise character probe and a 2-D map of the best layer
6. ``synthesis``   Kokoro synthesizes a few sentences in two voices (word timings, real-time factor)
7. ``roundtrip``   the synthesized audio back through the CTC model: WER per voice, timing agreement
8. ``report``      one self-contained HTML report of all of the above

Everything the steps compute is kept on the returned :class:`DemoResult` (``result.values``).
"""
from __future__ import annotations

import html
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from .errors import CorpusError
from .tts.roundtrip import DEMO_SENTENCES, DEMO_VOICES

DEFAULT_ASR = "w2v2-tiny-ctc"
DEFAULT_PRETRAINING = "w2v2-tiny"
DEFAULT_VOICES, SENTENCES = DEMO_VOICES, DEMO_SENTENCES
QUICK_UTTERANCES = 12
ROOT = Path(__file__).resolve().parents[1]


def default_manifest() -> Path:
    """``datasets/kokoro-eval/manifest.jsonl`` of the source tree, or of the current folder."""
    for root in (ROOT, Path.cwd()):
        path = root / "datasets" / "kokoro-eval" / "manifest.jsonl"
        if path.is_file():
            return path
    raise CorpusError("the default corpus datasets/kokoro-eval/manifest.jsonl was not found next to the package or "
                      "in the current folder; run from the project folder or pass --data MANIFEST")


@dataclass
class Step:
    """One demo step: ``ok`` True/False, or None when skipped; ``line`` is its key figure."""

    name: str
    ok: bool | None
    line: str
    seconds: float = 0.0
    error: str | None = None


@dataclass
class DemoResult:
    """What the demo did, where it wrote, and the computed objects (``values[step]``)."""

    out: Path
    steps: list[Step] = field(default_factory=list)
    values: dict[str, Any] = field(default_factory=dict, repr=False)
    report_path: Path | None = None

    @property
    def ok(self) -> bool:
        return all(s.ok for s in self.steps)

    @property
    def failed(self) -> list[Step]:
        return [s for s in self.steps if s.ok is not True]

    def to_frame(self):
        import pandas as pd

        return pd.DataFrame([s.__dict__ for s in self.steps], columns=["name", "ok", "line", "seconds", "error"])


def _pct(v: float) -> str:
    return "n/a" if v != v else f"{100 * v:.1f}%"


class _Runner:
    """Runs steps in order; an exception becomes a failed step, dependants are skipped."""

    def __init__(self, result: DemoResult, echo: Callable[[str], None]) -> None:
        self.result = result
        self.echo = echo
        self.width = 11

    def __call__(self, name: str, fn: Callable[[], str], *, needs: tuple[str, ...] = ()) -> None:
        missing = [n for n in needs if n not in self.result.values]
        if missing:
            step = Step(name, None, f"skipped: needs the {', '.join(missing)} step")
            self.result.steps.append(step)
            self.echo(f"[skip] {name.ljust(self.width)} {step.line}")
            return
        t0 = time.perf_counter()
        try:
            line = fn()
            step = Step(name, True, line, time.perf_counter() - t0)
            self.echo(f"[ ok ] {name.ljust(self.width)} {line}  ({step.seconds:.1f} s)")
        except Exception as exc:  # any failure of one step is reported and the next step still runs
            first = str(exc).splitlines()[0] if str(exc) else ""
            step = Step(name, False, f"FAILED: {exc.__class__.__name__}: {first}", time.perf_counter() - t0,
                        error="".join(traceback.format_exception(exc)))
            self.echo(f"[FAIL] {name.ljust(self.width)} {step.line}")
        self.result.steps.append(step)


DEMO_LM = "demo-lm"


def _beam_score(analyses, reg):
    """WER/CER of beam search + the demo LM on the analyses' cached log-probs (no new forward pass)."""
    from .asr.decoding import score_decoded

    return score_decoded(analyses, registry=reg, decoder="beam", lm=DEMO_LM)


def _lm_line(score) -> str:
    """``"; with demo-lm: WER x"`` from ``score()``, or why the LM decoding could not run."""
    from .errors import WorkbenchError

    try:
        s = score()
    except (WorkbenchError, ImportError) as exc:  # the lm extra (kenlm, pyctcdecode) not installed
        return f"; beam + {DEMO_LM} unavailable ({str(exc).splitlines()[0]})"
    return f"; beam + {DEMO_LM}: WER {_pct(s.wer)}, CER {_pct(s.cer)}"


def run_demo(out: str | Path = "workbench-demo", *, quick: bool = False, data: str | Path | None = None,
             asr_model: str = DEFAULT_ASR, pretraining_model: str = DEFAULT_PRETRAINING,
             voices: tuple[str, ...] = DEFAULT_VOICES, sentences: tuple[str, ...] = SENTENCES,
             registry=None, echo: Callable[[str], None] = print) -> DemoResult:
    """Run every step (see the module docstring) and write tables, audio and ``report.html`` into ``out``.

    ``quick``: the first 12 utterances, two sentences and a PCA map instead of UMAP (a minute on
    two cores).  ``registry``: inject one (tests register their own checkpoints there).
    """
    from .models.registry import resolve

    reg = resolve(registry)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    result = DemoResult(out=out.resolve())
    v = result.values
    step = _Runner(result, echo)
    if quick:
        sentences = sentences[:2]

    def corpus_step() -> str:
        from .data.corpus import Corpus

        source = Path(data) if data is not None else default_manifest()
        corpus = Corpus.load(source)
        if corpus.name == source.stem and source.is_file():  # "manifest.jsonl" -> the dataset's folder name
            corpus.name = source.parent.name
        if not len(corpus):
            raise CorpusError(f"{corpus.source}: no usable utterances ({len(corpus.problems)} problems)")
        if quick:
            corpus = corpus.subset(QUICK_UTTERANCES)
        v["corpus"] = corpus
        minutes = sum(float(u.duration or 0.0) for u in corpus) / 60
        speakers = len({u.speaker for u in corpus})
        return (f"{corpus.name}: {len(corpus)} utterances, {minutes:.1f} min of audio, {speakers} speakers"
                + (f" ({len(corpus.problems)} rows skipped)" if corpus.problems else ""))

    def evaluate_step() -> str:
        from .asr import engine
        from .evaluation.systems import System, evaluate_systems

        corpus = v["corpus"]
        # all hidden states in the same forward pass, so the embeddings step never reruns the model
        engine.analyze(corpus, asr_model, registry=reg, layers="all", progress=False)
        systems = [System(asr_model), System(asr_model, "int8", "cpu")]
        ev = evaluate_systems(corpus, systems, registry=reg, n_boot=1000, progress=False)
        v["evaluate"] = ev
        ev.save(out / "evaluation", report=False)
        base, other = ev.score, ev[systems[1].name]
        line = f"{base.name}: WER {_pct(base.wer)} [{_pct(base.wer_ci[0])}, {_pct(base.wer_ci[1])}], CER {_pct(base.cer)}"
        if ev.comparison is not None:
            t = ev.comparison.test(systems[1].name)
            line += (f"; int8: WER {_pct(other.wer)} (delta {100 * t['delta']:+.1f} pts, "
                     f"McNemar p={t['mcnemar_p']:.2g})")
        return line + _lm_line(lambda: _beam_score(ev.analyses[ev.models[0]], reg))

    def align_step() -> str:
        from .asr.alignment_files import write_ctm
        from .asr.alignment import forced_align
        from .errors import WorkbenchError
        from .asr.reference_timing import compare_word_timings, timing_summary

        analyses = v["evaluate"].analyses[v["evaluate"].models[0]]
        alignments, failed = {}, []
        for a in analyses.ok:
            try:
                alignments[a.id] = forced_align(a, drop_unknown=True)
            except WorkbenchError as exc:
                failed.append(f"{a.id}: {exc}")
        if not alignments:
            raise RuntimeError("no utterance could be aligned: " + "; ".join(failed[:3]))
        write_ctm(list(alignments.values()), out / "alignments.ctm")
        timing = compare_word_timings(alignments, v["corpus"])
        v["align"] = {"alignments": alignments, "timing": timing, "failed": failed}
        words = [w for fa in alignments.values() for w in fa.words]
        conf = sum(w.confidence for w in words) / max(len(words), 1)
        low = sum(w.low_confidence for w in words)
        line = (f"{len(alignments)} utterances, {len(words)} words, mean word confidence {conf:.2f} "
                f"({low} below 0.5)")
        if len(timing):
            s = timing_summary(timing)
            line += (f"; vs Kokoro's word timings: median |start diff| {1000 * s['start_median']:.0f} ms, "
                     f"{_pct(s['start_within_50ms'])} within 50 ms")
        if failed:
            line += f"; {len(failed)} not aligned"
        return line

    def codebook_step() -> str:
        from .asr import engine
        from .representations.codebook import code_characters, code_usage

        corpus = v["corpus"]
        pt = engine.analyze(corpus, pretraining_model, registry=reg, codes=True, progress=False)
        usage = code_usage(pt)
        ctc = v["evaluate"].analyses[v["evaluate"].models[0]] if "evaluate" in v else engine.analyze(
            corpus, asr_model, registry=reg, progress=False)
        cc = code_characters(pt, ctc)
        v["codebook"] = {"analyses": pt, "usage": usage, "code_chars": cc}
        s = usage.summary()
        used = "/".join(str(n) for n in s["codes_used"])
        nmi = ", ".join(f"{cc.nmi(g):.2f}" for g in range(cc.num_groups))
        return (f"{pretraining_model}: {s['groups']} x {s['codes_per_group']} codes, {used} used; perplexity "
                f"{s['hard_perplexity_sum']:.0f} (hard) / {s['soft_perplexity_sum']:.0f} (soft) of "
                f"{s['groups'] * s['codes_per_group']}; NMI(code, char) per group {nmi}")

    def embeddings_step() -> str:
        from .asr import engine
        from .representations.embeddings import embed_layer
        from .representations.probe import layer_probe

        ctc = engine.analyze(v["corpus"], asr_model, registry=reg, layers="all", progress=False)
        probe = layer_probe(ctc)
        emb = embed_layer(ctc, probe.best_layer, method="pca" if quick else "umap", subsample=5000)
        v["embeddings"] = {"probe": probe, "embedding": emb}
        best = probe.layers.index(probe.best_layer)
        return (f"char probe over {len(probe.layers)} layers: best layer {probe.best_layer} "
                f"({_pct(probe.accuracy[best])} held-out accuracy vs {_pct(probe.chance)} majority); "
                f"{emb.method.upper()} map of {len(emb)} frames")

    def synthesis_step() -> str:
        from .errors import TextError
        from .tts.synthesis import synthesize

        if not voices or not sentences:
            raise TextError(f"nothing to synthesize: {len(sentences)} sentences, {len(voices)} voices")
        reg.get("kokoro-82m")  # load the model and the G2P outside the timing
        for voice in voices:
            reg.voice(voice)
            reg.g2p("en-gb" if voice.startswith("b") else "en-us")
        syntheses, seconds = {}, 0.0
        folder = out / "synthesis"
        folder.mkdir(exist_ok=True)
        for voice in voices:
            for i, text in enumerate(sentences):
                t0 = time.perf_counter()
                r = synthesize(text, voice, registry=reg)
                seconds += time.perf_counter() - t0
                uid = f"{voice}-{i:03d}"
                syntheses[uid] = r
                r.save(folder / f"{uid}.wav")
        audio_s = sum(r.duration for r in syntheses.values())
        v["synthesis"] = syntheses
        return (f"{len(sentences)} sentences x {len(voices)} voices ({', '.join(voices)}): {audio_s:.1f} s of audio "
                f"at {audio_s / seconds:.2g}x real time; wrote {folder.name}/*.wav with word timings")

    def roundtrip_step() -> str:
        from .tts.roundtrip import transcribe_back

        rt = transcribe_back(v["synthesis"], model=asr_model, registry=reg)
        v["roundtrip"] = rt
        rt.save(out / "roundtrip")
        per = ", ".join(f"{r.voice} {_pct(r.wer)}" for r in rt.per_voice.itertuples())
        line = f"through {asr_model}: WER {_pct(rt.score.wer)} ({per})"
        line += _lm_line(lambda: _beam_score(rt.analysis, reg))
        if rt.timing is not None and len(rt.timing):
            import numpy as np

            line += f"; Kokoro vs CTC word starts: mean |diff| {1000 * np.abs(rt.timing.start_diff).mean():.0f} ms"
        return line

    def report_step() -> str:
        rep = demo_report(result)
        path = rep.save(out / "report.html")
        result.report_path = path
        return f"{path} ({path.stat().st_size / 1e6:.1f} MB, {len(rep.blocks)} blocks, self-contained)"

    step("corpus", corpus_step)
    step("evaluate", evaluate_step, needs=("corpus",))
    step("align", align_step, needs=("evaluate",))
    step("codebook", codebook_step, needs=("corpus",))
    step("embeddings", embeddings_step, needs=("corpus",))
    step("synthesis", synthesis_step)
    step("roundtrip", roundtrip_step, needs=("synthesis",))
    step("report", report_step)
    return result


def demo_report(result: DemoResult):
    """One :class:`~workbench.reports.report.Report` of whatever the demo's steps computed (failed steps listed)."""
    from .reports.report import Report

    v = result.values
    ev = v.get("evaluate")
    if ev is not None:
        from .reports.evaluation import build_evaluation_report

        rep = build_evaluation_report(ev, title="workbench demo", worst=5, audio=2, alignments=2)
    else:
        rep = Report("workbench demo")
    head = Report(rep.title)
    head.heading("What ran").text("What `workbench demo` ran, offline, on the default corpus and models. Each step's key figure:")
    head.table(result.to_frame().drop(columns=["error"]), caption="steps", float_format="{:.1f}")
    rep.blocks[:0] = head.blocks

    if "align" in v:
        from .plots.alignment import plot_timing_differences
        from .asr.reference_timing import timing_summary

        timing = v["align"]["timing"]
        rep.heading("Forced alignment vs Kokoro's own word timings")
        rep.text("The corpus was synthesized by Kokoro, whose predicted durations give each word's start and end; "
                 "the CTC forced alignment of the reference text finds them again from the audio alone.")
        if len(timing):
            summary = timing_summary(timing)
            import pandas as pd

            rep.table(pd.DataFrame([summary]), caption="absolute differences in seconds", float_format="{:.3f}")
            rep.figure(plot_timing_differences(timing), caption="CTC minus Kokoro, per word")
    if "codebook" in v:
        from .plots.representations import plot_code_char_heatmap, plot_perplexity

        cb = v["codebook"]
        rep.heading("Quantizer codebook")
        rep.table(cb["usage"].to_frame(), caption="code usage and perplexity per group")
        rep.figure(cb["usage"].plot(), caption="how often each code of group 0 is chosen")
        rep.figure(plot_perplexity(cb["usage"]), caption="perplexity per part of the corpus")
        rep.figure(plot_code_char_heatmap(cb["code_chars"]), caption="codes vs the aligned characters (group 0)")
    if "embeddings" in v:
        e = v["embeddings"]
        rep.heading("What each layer encodes")
        rep.table(e["probe"].to_frame(), caption="held-out accuracy of a linear character probe per layer")
        rep.figure(e["probe"].plot(), caption="layer-wise probe")
        rep.figure(e["embedding"].plot(color_by="char"),
                   caption=f"{e['embedding'].method.upper()} of layer {e['embedding'].layer}, coloured by aligned character")
    if "synthesis" in v:
        from .plots.synthesis import plot_timings

        rep.heading("Kokoro synthesis")
        first_id, first = next(iter(v["synthesis"].items()))
        rep.figure(plot_timings(first), caption=f"{first_id}: waveform with Kokoro's word and phoneme timings")
        for uid, r in list(v["synthesis"].items())[:2]:
            rep.audio(r.audio, r.sample_rate, caption=f"{uid} ({r.voice}): {r.text}")
    if "roundtrip" in v:
        rt = v["roundtrip"]
        rep.heading("Round trip: text -> Kokoro -> CTC -> text")
        rep.table(rt.per_voice, caption="per voice")
        rep.figure(rt.plot(), caption="round-trip WER per voice")
        for uid in list(rt.syntheses)[:3]:
            rep.html(f"<p><b>{html.escape(uid)}</b></p>" + rt.diff(uid, html=True))
    models = dict(ev.provenance.get("models", {})) if ev is not None else {}
    if "codebook" in v:
        models[v["codebook"]["usage"].model] = v["codebook"]["usage"].revision
    if "synthesis" in v:
        first = next(iter(v["synthesis"].values()))
        models["kokoro-82m"] = first.model_revision
    extra = {k: val for k, val in (ev.provenance if ev is not None else {}).items()
             if k not in ("models", "packages", "machine", "date")}
    rep.provenance(models=models, **extra)
    failed = result.failed
    if failed:
        rep.heading("Steps that did not run")
        rep.table(result.to_frame().loc[lambda df: df["ok"] != True, ["name", "line"]])  # noqa: E712
    return rep
