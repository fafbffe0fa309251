"""``workbench app``: serve the linked workbench app (``notebooks/app.ipynb``) with Voilà on loopback.

The options reach the notebook's kernel as ``WORKBENCH_APP_*`` environment variables (see
:func:`workbench.panels.app.from_environment`).  A token is generated unless ``--no-token``;
the printed URL carries it.  ``--dry-run`` prints the command and the URL and starts nothing.
"""
from __future__ import annotations

import argparse
import json
import os
import secrets
import shlex
import socket
import sys
import tempfile
from pathlib import Path

from ..errors import WorkbenchError

HOST = "127.0.0.1"
DEFAULT_PORT = 8866
NOTEBOOK = Path(__file__).resolve().parents[2] / "notebooks" / "app.ipynb"
_CELL = ("from workbench.panels.app import from_environment\n\napp = from_environment()\napp")


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("app", help="serve the linked app (all panels, one session) with Voilà on 127.0.0.1")
    p.add_argument("--port", type=int, default=None,
                   help=f"port on 127.0.0.1 (default {DEFAULT_PORT}, or a free one when that is taken; 0: any free)")
    p.add_argument("--corpus", help="manifest (.jsonl/.csv) or folder (default datasets/kokoro-eval)")
    p.add_argument("--asr", action="append", metavar="MODEL",
                   help="CTC model name or local checkpoint folder (repeat for several; default w2v2-tiny-ctc)")
    p.add_argument("--pretraining", metavar="MODEL", help="pretraining model name or folder (default w2v2-tiny)")
    p.add_argument("--voice", help="Kokoro voice for the synthesis panel (default af_heart)")
    p.add_argument("--session", help="a session JSON saved by Workbench.save_session to reopen")
    p.add_argument("--notebook", help="serve this notebook instead of notebooks/app.ipynb")
    p.add_argument("--no-autorun", action="store_true",
                   help="open the app without scoring the corpus first (press Run in the Transcribe tab)")
    p.add_argument("--no-token", action="store_true", help="serve without an access token (loopback only)")
    p.add_argument("--dry-run", action="store_true", help="print the command and URL, start nothing")
    p.set_defaults(func=run)


def free_port(preferred: int | None = DEFAULT_PORT) -> int:
    """``preferred`` when it can be bound on 127.0.0.1, else a free port the OS hands out."""
    for port in ([preferred] if preferred else []) + [0]:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            try:
                s.bind((HOST, port))
            except OSError:
                continue
            return s.getsockname()[1]
    raise WorkbenchError(f"no free port on {HOST}; pass --port")


def notebook_path(given: str | None) -> Path:
    """The notebook to serve: ``given``, the repository's ``notebooks/app.ipynb``, or a generated copy."""
    if given:
        path = Path(given).expanduser()
        if not path.is_file():
            raise WorkbenchError(f"{path}: no such notebook; give an .ipynb file or leave --notebook out")
        return path.resolve()
    if NOTEBOOK.is_file():
        return NOTEBOOK
    import nbformat  # an installed package has no notebooks/ folder: write the one-cell app

    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(_CELL)])
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    path = Path(tempfile.mkdtemp(prefix="workbench-app-")) / "app.ipynb"
    nbformat.write(nb, path)
    return path


def environment(args: argparse.Namespace) -> dict[str, str]:
    """The ``WORKBENCH_APP_*`` variables the notebook reads."""
    from ..panels.app import ENV_AUTORUN, ENV_CORPUS, ENV_MODELS, ENV_SESSION

    env: dict[str, str] = {"HF_HUB_DISABLE_PROGRESS_BARS": "1"}  # no console progress bars in the page
    if args.session:
        path = Path(args.session).expanduser()
        if not path.is_file():
            raise WorkbenchError(f"{path}: no such session file; save one with Workbench.save_session(path)")
        env[ENV_SESSION] = str(path.resolve())
    if args.corpus:
        path = Path(args.corpus).expanduser()
        if not path.exists():
            raise WorkbenchError(f"{path}: no such corpus; give a manifest (.jsonl/.csv) or a folder")
        env[ENV_CORPUS] = str(path.resolve())
    models = {k: v for k, v in {"asr": [_abs(m) for m in args.asr or []], "pretraining": _abs(args.pretraining),
                                "voice": args.voice}.items() if v}
    if models:
        env[ENV_MODELS] = json.dumps(models)
    if args.no_autorun:
        env[ENV_AUTORUN] = "0"
    return env


def _abs(value: str | None) -> str | None:
    """Local checkpoint paths made absolute (the kernel may start in another folder); names as given."""
    if value is None:
        return None
    path = Path(value).expanduser()
    return str(path.resolve()) if path.exists() else value


def command(args: argparse.Namespace) -> tuple[list[str], str, dict[str, str]]:
    """``(argv, url, env)`` of the Voilà server ``workbench app`` starts."""
    if args.port is None:
        port = free_port(DEFAULT_PORT)
    elif args.port == 0:
        port = free_port(None)
    else:
        port = args.port
        if free_port(port) != port:
            raise WorkbenchError(f"port {port} on {HOST} is taken; pass another --port, or --port 0 for any free one")
    notebook = notebook_path(args.notebook)
    argv = [sys.executable, "-m", "voila", str(notebook), "--no-browser", f"--port={port}", f"--Voila.ip={HOST}",
            "--Voila.port_retries=0"]
    url = f"http://{HOST}:{port}/"
    if not args.no_token:
        token = secrets.token_hex(16)
        argv.append(f"--Voila.token={token}")
        url += f"?token={token}"
    return argv, url, environment(args)


def run(args: argparse.Namespace) -> int:
    argv, url, env = command(args)
    if args.dry_run:
        for key, value in env.items():
            print(f"{key}={shlex.quote(value)}")
        print(shlex.join(argv))
        print(url)
        return 0
    import importlib.util

    if importlib.util.find_spec("voila") is None:
        raise WorkbenchError("Voilà is not installed; pip install 'workbench[ui]'")
    print(f"workbench app: {url}  (Ctrl-C stops it)", flush=True)
    sys.stderr.flush()
    os.execve(argv[0], argv, {**os.environ, **env})  # Voilà takes this process over: signals reach it directly
