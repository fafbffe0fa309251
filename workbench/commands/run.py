"""``workbench run --model NAME --data MANIFEST --out DIR``: a resumable corpus run (local or on Dask).

Every finished utterance is written to the run folder as it goes; run the same command again
after an interruption (or ``workbench run --resume DIR``) and only the missing utterances are
computed.  ``--dask tcp://host:8786`` sends the chunks to a Dask cluster, ``--dask-local N``
starts N worker processes on this machine.  Exit status: 0; 1 when some utterances ended as
error rows (they are in results.jsonl with the reason); 2 when the run folder holds a run with
other arguments (the message lists them), another run holds the folder (``run.lock``), or another
workbench error stops the run.  ``--overwrite`` always starts clean, even when run.json is
missing or unreadable; a resumed run recomputes the rows whose audio or speaker changed.
"""
from __future__ import annotations

import argparse
from pathlib import Path

from ._common import printable
from ._decoding import decoding_kwargs, decoding_options


def _layers(value: str):
    if value == "all":
        return "all"
    return [int(v) for v in value.split(",") if v.strip()]


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("run", parents=[decoding_options()],
                       help="resumable corpus run (evaluate/analyze) into a run folder, local or on Dask")
    p.add_argument("--model", help="registry name or local checkpoint folder / .onnx file")
    p.add_argument("--data", help="manifest (.jsonl/.csv), LibriSpeech folder or audio folder")
    p.add_argument("--out", "--run-dir", dest="out", type=Path, help="the run folder (created; resumed if it exists)")
    p.add_argument("--resume", type=Path, default=None, metavar="DIR",
                   help="continue the run in DIR with the arguments stored in its run.json")
    p.add_argument("--task", choices=["evaluate", "analyze"], default=None,
                   help="evaluate: transcripts + WER (default); analyze: also keep log-probs/hidden states")
    p.add_argument("--overwrite", action="store_true", help="delete a previous run in --out and start afresh")
    dask = p.add_mutually_exclusive_group()
    dask.add_argument("--dask", metavar="SCHEDULER", default=None,
                      help="address of a Dask scheduler, e.g. tcp://host:8786")
    dask.add_argument("--dask-local", type=int, metavar="N", default=None,
                      help="start N Dask worker processes on this machine (loopback)")
    p.add_argument("--shard-size", type=int, default=None, help="utterances per shard file (default 1000)")
    p.add_argument("--chunk-size", type=int, default=None, help="utterances per engine call / task (default 16)")
    p.add_argument("--normalizer", choices=["default", "raw"], default=None)
    p.add_argument("--layers", type=_layers, default=None, help="hidden-state layers to keep (analyze): 0,4,12 or all")
    p.add_argument("--codes", action="store_true", default=None, help="keep quantizer codes (pretraining models)")
    p.add_argument("--device", default=None)
    p.add_argument("--dtype", default=None)
    p.add_argument("--batch-size", type=int, default=None)
    p.add_argument("--json", action="store_true", help="print the corpus figures as JSON")
    p.set_defaults(func=run)


def _from_manifest(args: argparse.Namespace, reg) -> tuple[str, str, dict]:
    """Model name, data source and options of the run stored in ``args.resume``."""
    from ..errors import CorpusError
    from ..evaluation.run_folder import ModelRef, RunFolder, RunMismatchError

    folder = RunFolder(args.resume)
    manifest = folder.read_manifest()
    if manifest is None:
        raise RunMismatchError(f"{args.resume}: no run.json; --resume needs a run folder")
    m = manifest["model"]
    name = ModelRef(m["name"], m["kind"], m["source"], m["location"], m.get("pinned_revision")).ensure(reg)
    source = manifest["corpus"].get("source")
    if not source:
        raise CorpusError(f"{args.resume}: the run's corpus was built in memory; resume it from Python with run_corpus")
    opts = manifest["options"]
    kw = dict(opts.get("analyze") or {})
    kw.update(task=manifest["task"], shard_size=opts["shard_size"], chunk_size=opts["chunk_size"],
              normalizer=opts.get("normalizer"))
    return name, source, kw


def run(args: argparse.Namespace) -> int:
    import contextlib

    from ..data.corpus import Corpus
    from ..evaluation.runs import dask_client, run_corpus
    from ..models.registry import default_registry

    reg = default_registry()
    if args.resume is not None:
        if args.overwrite:
            raise SystemExit("workbench run: --resume and --overwrite contradict each other")
        model, data, kw = _from_manifest(args, reg)
        out = args.resume
    else:
        missing = [flag for flag, value in (("--model", args.model), ("--data", args.data), ("--out", args.out))
                   if not value]
        if missing:
            raise SystemExit(f"workbench run: {', '.join(missing)} needed (or --resume DIR)")
        model, data, out = reg.name_for(args.model), args.data, args.out
        kw = {"task": args.task or "evaluate"}
        for key in ("shard_size", "chunk_size", "normalizer", "layers", "codes", "device", "dtype", "batch_size"):
            value = getattr(args, key)
            if value is not None:
                kw[key] = value
        kw.update(decoding_kwargs(args))  # --decoder beam --lm NAME: transcripts (and scores) of the beam search
    corpus = Corpus.load(data)
    with contextlib.ExitStack() as stack:
        executor = None
        if args.dask or args.dask_local:
            executor = stack.enter_context(dask_client(args.dask, n_workers=args.dask_local or 0))
        result = run_corpus(corpus, model, out, registry=reg, executor=executor, overwrite=args.overwrite, **kw)
    print(printable(result.summary()))
    for problem in result.problems:
        uid = f" (id {problem.id!r})" if getattr(problem, "id", None) is not None else ""
        print(printable(f"skipped {problem.row}{uid} of {problem.source}: {problem.reason}"))
    if args.json and result.score is not None:
        print(result.score.to_frame().to_json(orient="records"))
    print(f"wrote {Path(out)}/ (results.jsonl, shards/, run.json" + (", scores/" if result.score is not None else "")
          + ")")
    return 0 if not result.errors else 1
