"""What a faster precision costs in accuracy: the same corpus through one model in several dtypes.

    compare_precisions(corpus, "w2v2-tiny-ctc")          # float32 vs int8 vs bfloat16 on the CPU
    compare_precisions(corpus, "wav2vec2-base-960h", dtypes=("float32", "float16"), device="cuda")

Precision is chosen through the registry (``registry.get(name, device=, dtype=)``): ``int8``
is torch dynamic quantization of every ``nn.Linear`` (CPU only), ``bfloat16`` casts the
weights (CPU or CUDA; on CPUs without native bf16 instructions it is emulated and usually
slower than float32), ``float16`` needs CUDA.  A registered ONNX export can be compared too:
give its registry name as ``model`` with ``dtypes=("float32",)``, or see
:func:`compare_models`.  The WER effect is always reported next to the speed: the
transcripts of each mode are scored against the first (exact) mode and against the
references.
"""
from __future__ import annotations

import time

import numpy as np

from ..asr.engine import analyze
from ..models.registry import ModelRegistry, resolve

COLUMNS = ["mode", "model", "dtype", "device", "utterances", "failed", "audio_s", "seconds", "rtf", "speedup",
           "identical", "wer_vs_exact", "cer_vs_exact", "max_logprob_diff", "wer", "delta_wer", "error"]


def _score(references: dict, hypotheses: dict, normalizer) -> tuple[float, float]:
    """Pooled (WER, CER) of hypotheses against references; workbench.scoring, jiwer directly as fallback."""
    pairs = {k: v for k, v in references.items() if v is not None and k in hypotheses}
    if not pairs:
        return float("nan"), float("nan")
    try:
        from ..scoring.wer import score_corpus
    except ImportError:  # pragma: no cover - the scoring module ships with the package
        import jiwer

        refs = [pairs[k] for k in pairs]
        hyps = [hypotheses[k] for k in pairs]
        return float(jiwer.wer(refs, hyps)), float(jiwer.cer(refs, hyps))
    score = score_corpus(pairs, {k: hypotheses[k] for k in pairs}, normalizer=normalizer, n_boot=0)
    return float(score.wer), float(score.cer)


def compare_models(corpus, modes: dict[str, tuple[str, str]], *, registry: ModelRegistry | None = None,
                   device: str = "cpu", normalizer=None, batch_size: int | None = None, progress: bool | None = None):
    """One row per mode ``{label: (registry name, dtype)}``; the first mode is the exact baseline.

    Each mode is run with the caches bypassed (so ``seconds`` is a real forward time, model
    loading excluded).  ``identical``: fraction of transcripts equal to the baseline's;
    ``wer_vs_exact``: WER taking the baseline's transcripts as references (normalised);
    ``wer``/``delta_wer``: against the corpus references, and the change in WER points
    (x100) from the baseline.  A mode that cannot load (e.g. float16 on the CPU) gives a row
    with ``error`` set; the others are still measured.
    """
    import pandas as pd

    from ..data.corpus import as_corpus

    reg = resolve(registry)
    corpus = as_corpus(corpus)
    refs = {u.id: u.text for u in corpus}
    rows, base = [], None
    for label, (name, dtype) in modes.items():
        row = {"mode": label, "model": name, "dtype": dtype, "device": device}
        try:
            bundle = reg.get(name, device=device, dtype=dtype)  # load outside the timing
            row["dtype"] = bundle.dtype  # an ONNX export reports its own (float32 or int8)
            t0 = time.perf_counter()
            result = analyze(corpus, name, registry=reg, device=device, dtype=dtype, cache=False,
                             batch_size=batch_size, progress=progress)
            seconds = time.perf_counter() - t0
        except Exception as exc:  # one mode failing must not hide the others
            rows.append({**row, "error": f"{exc.__class__.__name__}: {exc}"})
            continue
        hyps = result.transcripts()
        audio_s = float(sum(a.duration for a in result.ok))
        row.update(utterances=len(result), failed=len(result.errors), audio_s=audio_s, seconds=seconds,
                   rtf=seconds / audio_s if audio_s else float("nan"))
        row["wer"] = _score(refs, hyps, normalizer)[0]
        if base is None:
            base = {"result": result, "hyps": hyps, "seconds": seconds, "wer": row["wer"]}
        common = [a.id for a in result.ok if a.id in base["hyps"]]
        row["identical"] = float(np.mean([hyps[k] == base["hyps"][k] for k in common])) if common else float("nan")
        row["wer_vs_exact"], row["cer_vs_exact"] = _score({k: base["hyps"][k] for k in common}, hyps, normalizer)
        diffs = [float(np.abs(a.log_probs - base["result"][a.id].log_probs).max()) for a in result.ok
                 if a.log_probs is not None and a.id in base["hyps"]
                 and base["result"][a.id].log_probs is not None]
        row["max_logprob_diff"] = max(diffs) if diffs else float("nan")
        row["speedup"] = base["seconds"] / seconds if seconds else float("nan")
        row["delta_wer"] = 100 * (row["wer"] - base["wer"])
        rows.append(row)
    return pd.DataFrame(rows, columns=COLUMNS)


def compare_precisions(corpus, model: str, dtypes=("float32", "int8", "bfloat16"), registry: ModelRegistry | None = None,
                       *, device: str = "cpu", normalizer=None, batch_size: int | None = None, progress: bool | None = None):
    """Speed and WER effect of running ``model`` in each of ``dtypes`` (the first is the exact baseline).

    Returns a DataFrame (see :func:`compare_models` for the columns), one row per dtype.
    """
    return compare_models(corpus, {d: (model, d) for d in dtypes}, registry=registry, device=device,
                          normalizer=normalizer, batch_size=batch_size, progress=progress)
