"""``workbench app``: serve the linked workbench app (``notebooks/app.ipynb``) with Voilà on loopback.

Safe by default (issue 18, row 15):

* the access token never appears on a command line (``ps`` shows every argument to every
  local user): it comes from ``$WORKBENCH_APP_TOKEN``, a ``--token-file`` only its owner can
  read (mode 0600), or is generated; it reaches Voilà as in-process configuration;
* Voilà runs in this process with the Jupyter server's host check on
  (``allow_remote_access=False``, ``local_hostnames=["localhost"]``): a request whose ``Host:``
  is not loopback gets 403, so a DNS-rebinding page cannot reach the app even with
  ``--no-token``;
* the page saves sessions and loads corpora only inside ``--workdir`` (default: the current
  folder), chosen here at start;
* idle kernels of closed pages are culled (``--cull-idle`` minutes) so they do not pile up;
  visitors share the engine's disk cache, so a corpus scored once is read back by the next.

The options reach the notebook's kernel as ``WORKBENCH_APP_*`` environment variables (see
:func:`workbench.panels.app.from_environment`).  ``--dry-run`` prints the variables, the
Voilà options (token left out) and the URL, and starts nothing.
"""
from __future__ import annotations

import argparse
import json
import os
import secrets
import shlex
import socket
import stat
import sys
import tempfile
from pathlib import Path

from ..errors import WorkbenchError

HOST = "127.0.0.1"
DEFAULT_PORT = 8866
NOTEBOOK = Path(__file__).resolve().parents[2] / "notebooks" / "app.ipynb"
ENV_TOKEN = "WORKBENCH_APP_TOKEN"
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
    p.add_argument("--workdir", default=".",
                   help="the only folder the page may save sessions to or load corpora from (default: here)")
    p.add_argument("--token-file", metavar="PATH",
                   help=f"read the access token from this file (mode 0600); default ${ENV_TOKEN}, else a new one")
    p.add_argument("--cull-idle", type=float, default=10.0, metavar="MINUTES",
                   help="shut down kernels of closed pages after this many idle minutes (default 10; 0: never)")
    p.add_argument("--decoder", choices=["greedy", "beam", "both"], default=None,
                   help="the transcribe panel's decoder at start (default greedy; --lm implies beam; both: side "
                        "by side)")
    p.add_argument("--lm", metavar="NAME_OR_FILE",
                   help="word LM for beam search: a registry name or an ARPA / KenLM binary file (default demo-lm)")
    p.add_argument("--no-autorun", action="store_true",
                   help="open the app without scoring the corpus first (press Run in the Transcribe tab)")
    p.add_argument("--no-token", action="store_true",
                   help="serve without an access token (loopback only; other Host names are still refused)")
    p.add_argument("--dry-run", action="store_true", help="print the settings and URL, start nothing")
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


def read_token(args: argparse.Namespace) -> str | None:
    """The access token: ``--token-file`` (owner-only), ``$WORKBENCH_APP_TOKEN``, else a new one;
    None with ``--no-token``."""
    if args.no_token:
        return None
    if args.token_file:
        path = Path(args.token_file).expanduser()
        try:
            st = path.stat()
        except OSError:
            raise WorkbenchError(f"{path}: no such token file; write the token into a file with mode 0600") from None
        if not stat.S_ISREG(st.st_mode):
            raise WorkbenchError(f"{path}: not a regular file; give a file holding the token")
        if st.st_mode & 0o077:
            raise WorkbenchError(f"{path}: other users can read it (mode {stat.S_IMODE(st.st_mode):04o}); "
                                 f"run `chmod 600 {shlex.quote(str(path))}` first")
        token = path.read_text().strip()
        if len(token) < 16:
            raise WorkbenchError(f"{path}: the token is {len(token)} characters; use at least 16 "
                                 "(e.g. python -c 'import secrets; print(secrets.token_hex(16))')")
        return token
    token = os.environ.get(ENV_TOKEN, "").strip()
    if token and len(token) < 16:
        raise WorkbenchError(f"${ENV_TOKEN} is {len(token)} characters; use at least 16")
    return token or secrets.token_hex(16)


def environment(args: argparse.Namespace) -> dict[str, str]:
    """The ``WORKBENCH_APP_*`` variables the notebook reads."""
    from ..panels.app import ENV_AUTORUN, ENV_CORPUS, ENV_DECODER, ENV_LM, ENV_MODELS, ENV_SESSION, ENV_WORKDIR

    env: dict[str, str] = {"HF_HUB_DISABLE_PROGRESS_BARS": "1"}  # no console progress bars in the page
    workdir = Path(args.workdir).expanduser()
    if not workdir.is_dir():
        raise WorkbenchError(f"{workdir}: no such folder; --workdir names the folder the page may save into")
    env[ENV_WORKDIR] = str(workdir.resolve())
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
    decoder = args.decoder or ("beam" if args.lm else None)
    if decoder == "greedy" and args.lm:
        raise WorkbenchError("--decoder greedy takes no --lm; use --decoder beam (or both) to decode with an LM")
    if decoder:
        env[ENV_DECODER] = decoder
    if args.lm:
        lm = Path(args.lm).expanduser()
        env[ENV_LM] = str(lm.resolve()) if lm.exists() else args.lm  # a file, else a registry name
    return env


def _abs(value: str | None) -> str | None:
    """Local checkpoint paths made absolute (the kernel may start in another folder); names as given."""
    if value is None:
        return None
    path = Path(value).expanduser()
    return str(path.resolve()) if path.exists() else value


def _port(args: argparse.Namespace) -> int:
    if args.port is None:
        return free_port(DEFAULT_PORT)
    if args.port == 0:
        return free_port(None)
    if free_port(args.port) != args.port:
        raise WorkbenchError(f"port {args.port} on {HOST} is taken; pass another --port, or --port 0 for any free one")
    return args.port


def settings(args: argparse.Namespace) -> tuple[list[str], dict, str, dict[str, str]]:
    """``(argv, config, url, env)``: Voilà's command-line options (no secret in them), its
    in-process configuration (token, host check, culling), the URL to open and the kernel's
    environment."""
    port = _port(args)
    notebook = notebook_path(args.notebook)
    argv = [str(notebook), "--no-browser", f"--port={port}", f"--Voila.ip={HOST}", "--Voila.port_retries=0"]
    token = read_token(args)
    cull = max(float(args.cull_idle), 0.0) * 60
    config = {"Voila": {"token": token or None, "auto_token": False},
              "MappingKernelManager": {"cull_idle_timeout": int(cull), "cull_interval": 60 if cull else 0,
                                       "cull_connected": False, "cull_busy": False}}
    url = f"http://{HOST}:{port}/" + (f"?token={token}" if token else "")
    return argv, config, url, environment(args)


def run(args: argparse.Namespace) -> int:
    argv, config, url, env = settings(args)
    if args.dry_run:
        for key, value in env.items():
            print(f"{key}={shlex.quote(value)}")
        print(shlex.join([sys.executable, "-m", "voila", *argv]))
        print(url)
        return 0
    import importlib.util

    if importlib.util.find_spec("voila") is None:
        raise WorkbenchError("Voilà is not installed; pip install 'workbench[ui]'")
    print(f"workbench app: {url}  (Ctrl-C stops it)", flush=True)
    sys.stderr.flush()
    from ..panels.server import serve

    os.environ.pop(ENV_TOKEN, None)  # the kernels inherit this environment: they never see the token
    os.environ.update(env)
    serve(argv, config)
    return 0
