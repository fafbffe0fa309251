"""``workbench train``: the project's own two-stage wav2vec2 recipe (data, pretrain, CTC)."""
from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("train", help="build the demo checkpoints (Kokoro speech -> pretraining -> CTC)")
    p.add_argument("--stage", choices=["data", "pretrain", "ctc", "all", "card", "broad-data", "broad"], default="all",
                   help="broad-data / broad: the broad-vocabulary speech and the CTC + phoneme-frame training "
                        "(workbench/recipe/broad_run.py)")
    p.add_argument("--blocks", type=int, default=20, help="broad-data: seeded blocks (~30 min of speech each)")
    p.add_argument("--run-dir", type=Path, default=Path("runs/recipe"), help="checkpoints and logs (resumable)")
    p.add_argument("--data-dir", type=Path, default=None, help="training speech (default: RUN_DIR/data)")
    p.add_argument("--n-train", type=int, default=1600, help="training sentences to synthesize")
    p.add_argument("--pretrain-steps", type=int, default=None)
    p.add_argument("--ctc-steps", type=int, default=None)
    p.add_argument("--init-from", type=Path, default=None,
                   help="CTC stage: start from this Hugging Face checkpoint folder (e.g. to continue the shipped "
                        "w2v2-tiny-ctc with a fresh schedule) instead of the pretraining export")
    p.add_argument("--lr", type=float, default=None, help="CTC stage: peak learning rate (default: the recipe's)")
    p.add_argument("--warmup", type=int, default=None, help="CTC stage: warm-up steps (default: the recipe's)")
    p.add_argument("--dropout", type=float, default=None, help="CTC stage: set every dropout to this")
    p.add_argument("--max-minutes", type=float, default=None, help="stop a stage after this long (resume later)")
    p.add_argument("--export", action="store_true", help="copy the finished models into the package")
    p.add_argument("--smoke", action="store_true", help="a few steps on a few utterances in a temp folder")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ..recipe.data import make_data
    from ..recipe.run import default_export_dir, run_recipe

    if args.stage == "card":  # measure the shipped checkpoints and rewrite their model cards
        from ..recipe.card import SHIPPED_HISTORY, measure, write_cards

        figures = measure()
        write_cards(figures, checkpoints=default_export_dir(), history=SHIPPED_HISTORY)
        print(json.dumps({k: figures[k] for k in ("ctc", "alignment")}, indent=1))
        print(f"wrote {default_export_dir()}/*/README.md and metrics.json")
        return 0
    if args.stage in ("broad-data", "broad"):
        from ..recipe.broad_run import run_broad
        from ..recipe.broad_train import export_checkpoint

        out = run_broad(args.stage, data_dir=args.data_dir or Path("artifacts/broad-data"),
                        run_dir=args.run_dir, blocks=args.blocks, steps=args.ctc_steps, init_from=args.init_from,
                        max_minutes=args.max_minutes, smoke=args.smoke)
        if args.stage == "broad" and args.export and not args.smoke:
            out["exported_to"] = str(export_checkpoint(args.run_dir, default_export_dir() / "w2v2-tiny-ctc"))
        print(json.dumps(out, indent=1, default=str))
        return 0
    run_dir = Path(tempfile.mkdtemp(prefix="wb-smoke-")) if args.smoke else args.run_dir
    data_dir = args.data_dir or run_dir / "data"
    if args.stage in ("data", "all"):
        make_data(data_dir, n_train=4 if args.smoke else args.n_train, n_eval=2 if args.smoke else 60,
                  eval_dir=None if args.smoke else Path("datasets/kokoro-eval"), progress=not args.smoke)
    if args.stage == "data":
        return 0
    stages = ("pretrain", "ctc", "export") if args.stage == "all" else (args.stage, "export")
    out = run_recipe(run_dir, data_dir=data_dir, stages=stages, smoke=args.smoke, pretrain_steps=args.pretrain_steps,
                     ctc_steps=args.ctc_steps, max_minutes=args.max_minutes, init_from=args.init_from,
                     ctc_overrides={k: v for k, v in (("lr", args.lr), ("warmup", args.warmup),
                                                       ("dropout", args.dropout)) if v is not None},
                     export_to=default_export_dir() if args.export and not args.smoke else None)
    print(json.dumps(out, indent=1))
    return 0
