"""A development set for tuning decoding (``datasets/kokoro-dev``): never the sets the card reports.

Beam search's LM weight ``alpha`` and word bonus ``beta`` must be chosen on speech that is neither
trained on nor reported.  This set holds both kinds of text the reported sets hold, in *training*
voices (the held-out voices stay unheard until the report):

- grammar sentences of :mod:`.sentences` drawn with their own seed and kept only if they are in
  none of the demo LM's text, the broad recipe's grammar texts or the held-out sets;
- everyday prose written by hand for this set (:data:`DEV_PROSE`), none of it in ``kokoro-prose``.

``python -m workbench.recipe.dev`` makes it (resumable, seeded); ``python -m workbench.recipe.dev
--tune`` then tunes ``demo-lm``'s alpha/beta for the shipped demo recogniser and writes them to
``workbench/checkpoints/demo-lm/demo-lm.decoding.json``, which beam search takes as the LM's defaults.
"""
from __future__ import annotations

import argparse
import json
import random
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DEV_DIR = ROOT / "datasets" / "kokoro-dev"

DEV_PROSE = (
    "The bus driver waited for the old man to find his seat before pulling away.",
    "I always keep a spare key under the flower pot by the back door.",
    "Her sister works as a nurse at the children's hospital in town.",
    "We ran out of milk, so I went to the shop before breakfast.",
    "The football match was cancelled because the field was covered in snow.",
    "Could you send me the address of the restaurant before seven?",
    "He has lived in the same small house by the river for forty years.",
    "My brother bought a second hand bicycle and rides it to school every day.",
    "The hotel room was clean and quiet, but the bed was far too soft.",
    "Please write your name at the top of the page before you begin.",
    "It was so windy that the little boat could not leave the harbour.",
    "They are planning a surprise party for their father's birthday next month.",
)
GRAMMAR_SEED = 4242
N_GRAMMAR = 36


def dev_sentences(n_grammar: int = N_GRAMMAR, *, seed: int = GRAMMAR_SEED) -> list[str]:
    """``n_grammar`` fresh grammar sentences, then :data:`DEV_PROSE` (the set's texts, in order)."""
    from .broad import held_out_texts
    from .sentences import generate

    # demo-lm's 30,000 grammar sentences (seed 101; the Kokoro and splice sources use their first
    # 20,000, as generate() is prefix-stable) and the espeak-ng source's 20,000 (seed 102)
    seen = {s.strip().lower() for n, seed in ((30_000, 101), (20_000, 102)) for s in generate(n, seed=seed)}
    seen |= held_out_texts(skip=(DEV_DIR.name,))  # the other sets (this one's own texts are the answer)
    fresh, taken = [], set()
    for s in generate(20 * n_grammar, seed=seed):
        key = s.strip().lower()
        if key not in seen and key not in taken:
            fresh.append(s)
            taken.add(key)
        if len(fresh) == n_grammar:
            break
    return fresh + list(DEV_PROSE)


def make_dev_set(out_dir: Path | None = None, *, seed: int = 23, registry=None, progress: bool = False) -> Path:
    """Synthesize :func:`dev_sentences` in seeded *training* voices into ``out_dir`` (resumable)."""
    from .data import TRAIN_VOICES, synthesize_set

    return synthesize_set(Path(out_dir) if out_dir else DEV_DIR, dev_sentences(), TRAIN_VOICES, seed=seed,
                          prefix="dev", registry=registry, progress=progress)


ALPHAS = (0.3, 0.5, 0.8, 1.0, 1.3, 1.6, 2.0)
BETAS = (0.0, 0.5, 1.0, 1.5, 2.5, 3.5, 5.0, 7.0, 10.0, 13.0, 16.0)  # 13 and 16 since run 7, whose best beta was the old edge (10)


def tune_demo_lm(model: str = "w2v2-tiny-ctc", lm: str = "demo-lm", *, dev_dir: Path | None = None,
                 alphas=ALPHAS, betas=BETAS, registry=None, write: bool = True) -> dict:
    """Grid-search ``lm``'s alpha/beta with ``model`` on the dev set; writes them beside the LM file.

    Ranked by dev WER, then CER.  Returns what is written: the chosen pair, the dev figures of
    the chosen pair and of pyctcdecode's defaults (0.5, 1.5), and the grid.
    """
    import workbench as wb

    from ..asr.decoding import DEFAULT_ALPHA, DEFAULT_BETA, tune
    from ..data.corpus import Corpus
    from ..models.lm import locate, tuned_path

    reg = registry or wb.default_registry()
    manifest = Path(dev_dir or DEV_DIR) / "manifest.jsonl"
    if not manifest.exists():
        raise FileNotFoundError(f"{manifest} is missing; make it with `python -m workbench.recipe.dev`")
    result = wb.analyze(Corpus.load(manifest), model, registry=reg, progress=False)
    grid = tune(result, lm=lm, alphas=alphas, betas=betas, registry=reg)
    best = grid.iloc[0]
    default = grid[(grid.alpha == DEFAULT_ALPHA) & (grid.beta == DEFAULT_BETA)]
    out = {"alpha": float(best.alpha), "beta": float(best.beta),
           "tuned_on": f"datasets/{manifest.parent.name} ({len(result)} utterances, training voices)",
           "acoustic_model": model,
           "dev_wer": round(float(best.wer), 4), "dev_cer": round(float(best.cer), 4),
           "dev_wer_at_defaults": None if default.empty else round(float(default.wer.iloc[0]), 4),
           "grid": [{k: round(float(v), 4) for k, v in row.items()} for row in grid.to_dict("records")],
           "command": "python -m workbench.recipe.dev --tune"}
    if write:
        lm_file = locate(reg.spec(lm))
        if lm_file is None:
            raise FileNotFoundError(f"{lm}: no LM file to write the weights beside; rebuild it with "
                                    "`python -m workbench.recipe.lm`")
        target = tuned_path(lm_file)
        target.write_text(json.dumps(out, indent=1) + "\n", encoding="utf-8")
        out["written"] = str(target)
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m workbench.recipe.dev", description=__doc__.split("\n")[0])
    p.add_argument("--out", type=Path, default=DEV_DIR)
    p.add_argument("--tune", action="store_true", help="tune demo-lm's alpha/beta on the set (after making it)")
    p.add_argument("--model", default="w2v2-tiny-ctc")
    args = p.parse_args(argv)
    manifest = make_dev_set(args.out, progress=True)
    print(f"dev set: {manifest}")
    if args.tune:
        out = tune_demo_lm(args.model, dev_dir=args.out)
        print(f"demo-lm on {out['tuned_on']}: alpha {out['alpha']} beta {out['beta']}: WER {out['dev_wer']:.1%} "
              f"(defaults 0.5/1.5: {out['dev_wer_at_defaults']:.1%}); wrote {out.get('written')}")
    return 0


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
