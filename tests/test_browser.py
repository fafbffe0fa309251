"""Real browser: JupyterLab on loopback with a token, the tour notebook run in headless Chromium,
panels clicked, their rendered output checked in the DOM, screenshots under ``artifacts/``.

Needs Debian's ``chromium`` (``apt-get install -y chromium``; ``.ci/run`` installs it) and the
Python ``playwright`` package, which drives the system browser (Playwright cannot download its
own here).  Skips with the reason when either is missing.
"""
from __future__ import annotations

import os
import re
import secrets
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from conftest import ROOT, requires_kokoro_assets, requires_trained

pytestmark = [pytest.mark.browser, requires_trained, requires_kokoro_assets]

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
ARTIFACTS = ROOT / "artifacts"
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-background-networking",
        "--disable-component-update", "--no-first-run", "--disable-sync"]
RUN_TIMEOUT_MS = int(os.environ.get("WORKBENCH_BROWSER_TIMEOUT", "900")) * 1000


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_http(url: str, proc: subprocess.Popen, log: Path, timeout: float = 180.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"the server exited ({proc.returncode}):\n{log.read_text()[-3000:]}")
        try:
            with urllib.request.urlopen(url, timeout=5) as r:
                if r.status == 200:
                    return
        except OSError:
            time.sleep(0.5)
    raise RuntimeError(f"no answer from {url} after {timeout:.0f} s:\n{log.read_text()[-3000:]}")


def _stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)


@pytest.fixture(scope="module")
def browser():
    if not Path(CHROMIUM).exists():
        pytest.skip(f"chromium not found at {CHROMIUM}: `apt-get install -y chromium` (the real-browser test "
                    "drives the system browser)")
    sync_api = pytest.importorskip("playwright.sync_api", reason="the Python playwright package is not installed")
    with sync_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        yield b
        b.close()


@pytest.fixture(scope="module")
def workspace(tmp_path_factory) -> Path:
    """A temporary copy of notebooks/ (what the notebooks write stays out of the checkout)."""
    root = tmp_path_factory.mktemp("browser")
    shutil.copytree(ROOT / "notebooks", root / "notebooks")
    for sub in ("config", "data", "runtime"):
        (root / sub).mkdir()
    return root


def _server_env(root: Path) -> dict[str, str]:
    env = dict(os.environ)
    # a private Jupyter config/runtime, so no user setting or saved workspace changes what the test sees
    env.update(JUPYTER_CONFIG_DIR=str(root / "config"), JUPYTER_RUNTIME_DIR=str(root / "runtime"),
               JUPYTER_DATA_DIR=str(root / "data"), MPLBACKEND="module://matplotlib_inline.backend_inline")
    env["JUPYTER_PATH"] = os.pathsep.join(filter(None, [str(Path(sys.prefix) / "share" / "jupyter"),
                                                        env.get("JUPYTER_PATH")]))
    return env


@pytest.fixture(scope="module")
def lab(workspace):
    """JupyterLab on 127.0.0.1 (a free port) with a random token, serving the notebook copy."""
    port, token = _free_port(), secrets.token_hex(16)
    log = workspace / "jupyterlab.log"
    cmd = [sys.executable, "-m", "jupyterlab", "--no-browser", "--ip=127.0.0.1", f"--port={port}",
           f"--IdentityProvider.token={token}", f"--ServerApp.root_dir={workspace / 'notebooks'}",
           "--ServerApp.port_retries=0", "--LabApp.news_url=", "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate"]
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        cmd.append("--allow-root")
    with log.open("w") as out:
        proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, cwd=workspace, env=_server_env(workspace))
    try:
        base = f"http://127.0.0.1:{port}"
        _wait_http(f"{base}/api/status?token={token}", proc, log)
        yield {"base": base, "token": token, "log": log}
    finally:
        _stop(proc)


def _wait_kernel_idle(page, timeout_ms: int = 180_000) -> None:
    page.wait_for_function(
        """() => { const s = document.querySelector('.jp-Notebook-ExecutionIndicator');
                   return s && s.getAttribute('data-status') === 'idle'; }""", timeout=timeout_ms)


def _run_all(page) -> None:
    page.locator(".jp-Notebook .jp-Cell").first.click()
    page.locator(".lm-MenuBar-item", has_text=re.compile(r"^Run$")).click()
    page.locator(".lm-Menu-item", has_text="Run All Cells").first.click()
    # every code cell has run: no "[*]" (running) or "[ ]" (never run) prompt left
    page.wait_for_function(
        """() => { const ps = [...document.querySelectorAll('.jp-CodeCell .jp-InputPrompt')].map(p => p.textContent);
                   return ps.length > 0 && ps.every(t => /\\[\\d+\\]/.test(t)); }""", timeout=RUN_TIMEOUT_MS)
    _wait_kernel_idle(page)


def _cell_with(page, text: str):
    """The notebook cell whose source contains ``text``."""
    return page.locator(".jp-Notebook .jp-CodeCell").filter(has=page.locator(".jp-InputArea", has_text=text))


def _table(cell):
    """The utterance table of a transcribe panel (an ipywidgets Select: a <select> with a size)."""
    return cell.locator("select[size]").filter(has=cell.locator("option", has_text="eval-")).first


def _options(select) -> list[str]:
    return select.evaluate("s => [...s.options].map(o => o.textContent)")


def _shot(page, name: str) -> Path:
    ARTIFACTS.mkdir(exist_ok=True)
    path = ARTIFACTS / name
    page.screenshot(path=str(path), full_page=True)
    return path


@pytest.fixture(scope="module")
def tour(browser, lab):
    """The tour notebook opened in JupyterLab and run top to bottom (once for the module's tests)."""
    from playwright.sync_api import expect

    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    try:
        page.goto(f"{lab['base']}/lab/tree/01_tour.ipynb?token={lab['token']}")
        page.wait_for_selector(".jp-Notebook .jp-Cell", timeout=180_000)
        _wait_kernel_idle(page)
        _run_all(page)
        expect(page.get_by_text("Loading widget...")).to_have_count(0, timeout=60_000)
        yield page
    except Exception:
        _shot(page, "browser-tour-failure.png")
        raise
    finally:
        page.close()


def test_tour_runs_and_every_widget_renders(tour):
    assert tour.get_by_text("Traceback (most recent call last)").count() == 0, "a notebook cell raised"
    assert tour.get_by_text("Loading widget...").count() == 0
    # each panel's root widget is on the page (their headings are HTML widgets)
    for cell_text in ("TranscribePanel(", "AlignmentPanel(", "CodebookPanel(", "EmbeddingPanel(", "SynthesisPanel(",
                      "wb.Workbench("):
        assert _cell_with(tour, cell_text).locator(".jupyter-widgets").count() > 0, cell_text
    _shot(tour, "browser-tour.png")


def test_transcribe_row_click_shows_that_utterance(tour):
    from playwright.sync_api import expect

    cell = _cell_with(tour, "transcribe = TranscribePanel(")
    table = _table(cell)
    expect(table).to_be_visible(timeout=60_000)
    labels = _options(table)
    assert len(labels) == 8 and all(lbl.strip().startswith("eval-") for lbl in labels)
    uid = labels[1].split()[0]
    diff = cell.get_by_text(re.compile(rf"{uid} — reference / hypothesis aligned"))
    expect(diff).to_have_count(0)
    table.select_option(label=labels[1])
    expect(diff).to_be_visible(timeout=60_000)
    _shot(tour, "browser-transcribe-row.png")


def test_synthesis_button_click_transcribes_back(tour):
    from playwright.sync_api import expect

    cell = _cell_with(tour, "synthesis = SynthesisPanel(")
    back = cell.get_by_role("button", name="Transcribe it back")
    expect(back).to_be_enabled(timeout=60_000)
    heard = cell.get_by_text(re.compile(r"transcribed back: WER \d"))
    expect(heard).to_have_count(0)
    back.click()
    expect(heard.first).to_be_visible(timeout=120_000)
    _shot(tour, "browser-synthesis-click.png")


def test_linked_app_row_click_moves_the_alignment_view(tour):
    """In the linked app (last cell of the tour), choosing a row of the transcribe table changes the
    utterance the alignment tab shows."""
    from playwright.sync_api import expect

    app = _cell_with(tour, "app = wb.Workbench(")
    table = _table(app)
    expect(table).to_be_visible(timeout=120_000)
    labels = _options(table)
    target = labels[-1]
    uid = target.split()[0]
    shown = app.get_by_text(re.compile(rf"alignment of {uid} "))
    table.select_option(label=target)
    app.locator(".lm-TabBar-tab", has_text="Alignment").first.click()
    expect(shown.first).to_be_visible(timeout=120_000)
    _shot(tour, "browser-app-linked.png")
