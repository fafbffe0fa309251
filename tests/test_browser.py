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
RUN_TIMEOUT_MS = int(os.environ.get("WORKBENCH_BROWSER_TIMEOUT", "1200")) * 1000


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


def _wait_port(port: int, proc: subprocess.Popen, log: Path, timeout: float = 180.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"the server exited ({proc.returncode}):\n{log.read_text()[-3000:]}")
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.5)
    raise RuntimeError(f"nothing listens on 127.0.0.1:{port} after {timeout:.0f} s:\n{log.read_text()[-3000:]}")


def _stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)


@pytest.fixture(scope="module")
def playwright():
    """One Playwright driver for the module (a second sync one cannot run beside it)."""
    if not Path(CHROMIUM).exists():
        pytest.skip(f"chromium not found at {CHROMIUM}: `apt-get install -y chromium` (the real-browser test "
                    "drives the system browser)")
    sync_api = pytest.importorskip("playwright.sync_api", reason="the Python playwright package is not installed")
    with sync_api.sync_playwright() as p:
        yield p


@pytest.fixture(scope="module")
def browser(playwright):
    b = playwright.chromium.launch(executable_path=CHROMIUM, args=ARGS)
    yield b
    b.close()


@pytest.fixture(scope="module")
def workspace(tmp_path_factory) -> Path:
    """A temporary copy of notebooks/ (what the notebooks write stays out of the checkout)."""
    root = tmp_path_factory.mktemp("browser")
    shutil.copytree(ROOT / "notebooks", root / "notebooks")
    for sub in ("config", "data", "runtime"):
        (root / sub).mkdir()
    settings = root / "settings"
    # no news pop-up over the page, and every cell kept in the DOM (no windowing) so the test can find it
    for plugin, values in {"@jupyterlab/apputils-extension/notification": '{"fetchNews": "false"}',
                           "@jupyterlab/notebook-extension/tracker": '{"windowingMode": "none"}'}.items():
        path = settings / f"{plugin}.jupyterlab-settings"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(values)
    return root


def _server_env(root: Path) -> dict[str, str]:
    env = dict(os.environ)
    # a private Jupyter config/runtime, so no user setting or saved workspace changes what the test sees
    env.update(JUPYTER_CONFIG_DIR=str(root / "config"), JUPYTER_RUNTIME_DIR=str(root / "runtime"),
               JUPYTER_DATA_DIR=str(root / "data"), JUPYTERLAB_SETTINGS_DIR=str(root / "settings"),
               MPLBACKEND="module://matplotlib_inline.backend_inline")
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
           "--ServerApp.port_retries=0", "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate"]
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


_PROMPTS = "() => [...document.querySelectorAll('.jp-CodeCell .jp-InputPrompt')].map(p => p.textContent.trim())"


def _run_all(page) -> None:
    """Run every cell (Run > Run All Cells) and wait until none is running or queued; a cell that
    raised stops the run, and the assertion then shows its traceback."""
    page.locator(".jp-Notebook .jp-CodeCell .jp-InputArea-editor").first.click()  # focus a code cell's editor
    page.locator(".lm-MenuBar-item", has_text=re.compile(r"^Run$")).click()
    page.locator(".lm-Menu-item", has_text="Run All Cells").first.click()
    page.wait_for_function(f"() => ({_PROMPTS})().some(t => /\\[(\\*|\\d+)\\]/.test(t))", timeout=60_000)
    page.wait_for_function(
        f"""() => {{ const busy = ({_PROMPTS})().some(t => t.includes('[*]'));
                    const s = document.querySelector('.jp-Notebook-ExecutionIndicator');
                    return !busy && s && s.getAttribute('data-status') === 'idle'; }}""", timeout=RUN_TIMEOUT_MS)
    prompts = page.evaluate(_PROMPTS)
    not_run = [i for i, t in enumerate(prompts) if not re.search(r"\[\d+\]", t)]
    if not_run:
        errors = page.locator(".jp-OutputArea-output").filter(has_text="Traceback").all_inner_texts()
        _shot(page, "browser-tour-failure.png")
        raise AssertionError(f"code cells {not_run} of the tour did not run; errors:\n" + "\n".join(errors)[-4000:])


def _cell_with(page, text: str):
    """The notebook cell whose source contains ``text``."""
    return page.locator(".jp-Notebook .jp-CodeCell").filter(has=page.locator(".jp-InputArea", has_text=text))


def _table(cell):
    """The utterance table of a transcribe panel (an ipywidgets Select: a <select> with a size)."""
    return cell.locator("select[size]").filter(has=cell.page.locator("option", has_text="eval-")).first


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
    tab = lambda name: app.locator(".lm-TabBar-tab", has_text=name).first  # noqa: E731
    shown = re.compile(r"alignment of (eval-\d+) ")
    table = _table(app)
    expect(table).to_be_visible(timeout=120_000)
    labels = _options(table)
    tab("Alignment").click()
    expect(app.get_by_text(shown).first).to_be_visible(timeout=120_000)
    before = shown.search(app.get_by_text(shown).first.inner_text()).group(1)
    target = next(lbl for lbl in labels if lbl.split()[0] != before)
    uid = target.split()[0]
    tab("Transcribe").click()
    table.select_option(label=target)
    tab("Alignment").click()
    expect(app.get_by_text(re.compile(rf"alignment of {uid} ")).first).to_be_visible(timeout=120_000)
    expect(app.get_by_text(re.compile(rf"alignment of {before} "))).to_have_count(0)
    _shot(tour, "browser-app-linked.png")


def test_tour_as_a_voila_app(browser, workspace):
    """`voila 01_tour.ipynb`: the panels render without any code, and still answer a click."""
    from playwright.sync_api import expect

    port, token = _free_port(), secrets.token_hex(16)
    log = workspace / "voila.log"
    cmd = [sys.executable, "-m", "voila", str(workspace / "notebooks" / "01_tour.ipynb"), "--no-browser",
           "--Voila.ip=127.0.0.1", f"--port={port}", f"--token={token}", "--Voila.port_retries=0"]
    with log.open("w") as out:
        proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, cwd=workspace / "notebooks",
                                env=_server_env(workspace))
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    try:
        _wait_port(port, proc, log)
        page.goto(f"http://127.0.0.1:{port}/?token={token}", timeout=RUN_TIMEOUT_MS)
        table = _table(page.locator("body"))
        expect(table).to_be_visible(timeout=RUN_TIMEOUT_MS)
        expect(page.get_by_text("Loading widget...")).to_have_count(0, timeout=60_000)
        assert page.get_by_text("Traceback (most recent call last)").count() == 0
        assert page.get_by_text("TranscribePanel(").count() == 0  # no code shown
        labels = _options(table)
        uid = labels[0].split()[0]
        table.select_option(label=labels[0])
        expect(page.get_by_text(re.compile(rf"{uid} — reference / hypothesis aligned")).first).to_be_visible(
            timeout=60_000)
        _shot(page, "voila-tour.png")
    finally:
        page.close()
        _stop(proc)


# ---------------------------------------------------------------------------- `workbench app` in the browser
#: seconds from the page answering to a usable Transcribe tab (the issue's target: 10)
SHELL_SECONDS = float(os.environ.get("WORKBENCH_BROWSER_SHELL_S", "10"))
APP_TABS = ("Transcribe", "Alignment", "Codebook", "Embeddings", "Synthesis")
_BROKEN_IMAGES = """() => [...document.querySelectorAll('img')]
    .filter(i => i.offsetParent !== null && i.complete && i.naturalWidth === 0).length"""
_RECORDER = """() => { const b = [...document.querySelectorAll('button')].find(x => x.textContent.trim() === 'Run');
    window.__wb = {disabled: false, progress: false, counts: []};
    const look = () => { if (b.disabled) window.__wb.disabled = true;
        const p = [...document.querySelectorAll('.wb-progress')].find(x => x.offsetParent !== null);
        if (p) { window.__wb.progress = true; window.__wb.counts.push(p.textContent); } };
    new MutationObserver(look).observe(document.body, {subtree: true, childList: true, attributes: true,
                                                        characterData: true}); }"""


def _docs_shot(page, name: str) -> None:
    """A screenshot under artifacts/; with WORKBENCH_DOCS_SCREENSHOTS=1 also a small PNG under docs/."""
    path = _shot(page, name)
    if os.environ.get("WORKBENCH_DOCS_SCREENSHOTS") == "1":
        from PIL import Image

        docs = ROOT / "docs"
        docs.mkdir(exist_ok=True)
        img = Image.open(path).convert("RGB")
        img.thumbnail((1100, 1400))
        img.quantize(colors=128).save(docs / name, optimize=True)


@pytest.fixture(scope="module")
def app_page(playwright, tmp_path_factory):
    """`workbench app` with a cold cache on an 8-utterance corpus inside its working folder, opened in
    Chromium whose microphone plays one utterance of the evaluation set; yields (page, seconds from
    the page answering to the Run button)."""
    import json as _json

    import numpy as np
    import soundfile as sf

    pytest.importorskip("anywidget", reason="the microphone widget needs anywidget (workbench[ui])")
    root = tmp_path_factory.mktemp("app")
    for sub in ("config", "data", "runtime", "cache", "work"):
        (root / sub).mkdir()
    manifest = ROOT / "datasets" / "kokoro-eval" / "manifest.jsonl"
    rows = [_json.loads(line) for line in manifest.read_text().splitlines() if line.strip()]
    base = ROOT / "datasets" / "kokoro-eval"
    for r in rows:
        r["audio_filepath"] = str((base / r["audio_filepath"]).resolve())
    (root / "work" / "eight.jsonl").write_text("".join(_json.dumps(r) + "\n" for r in rows[:8]))
    voice, sr = sf.read(rows[10]["audio_filepath"], dtype="float32")
    mic = root / "mic.wav"
    sf.write(mic, np.concatenate([np.zeros(sr // 2, np.float32), voice, np.zeros(sr, np.float32)]), sr,
             subtype="PCM_16")
    port, token = _free_port(), secrets.token_hex(16)
    env = {**_server_env(root), "WORKBENCH_CACHE": str(root / "cache"), "WORKBENCH_APP_TOKEN": token,
           "PYTHONUNBUFFERED": "1"}
    log = root / "app.log"
    with log.open("w") as out:
        proc = subprocess.Popen([sys.executable, "-m", "workbench", "app", "--port", str(port), "--workdir",
                                 str(root / "work"), "--corpus", str(root / "work" / "eight.jsonl")],
                                stdout=out, stderr=subprocess.STDOUT, cwd=root, env=env)
    try:
        _wait_port(port, proc, log)
        # the module's Playwright driver; a browser of its own with the fake microphone
        b = playwright.chromium.launch(executable_path=CHROMIUM, args=[
            *ARGS, "--use-fake-ui-for-media-stream", "--use-fake-device-for-media-stream",
            f"--use-file-for-fake-audio-capture={mic}", "--autoplay-policy=no-user-gesture-required"])
        page = b.new_page(viewport={"width": 1280, "height": 900})
        try:
            page.goto(f"http://127.0.0.1:{port}/?token={token}", wait_until="commit", timeout=120_000)
            answered = time.monotonic()
            page.locator("button", has_text=re.compile(r"^\s*Run\s*$")).first.wait_for(
                state="visible", timeout=180_000)
            yield page, time.monotonic() - answered, log
        except Exception:
            _shot(page, "browser-app-failure.png")
            raise
        finally:
            b.close()
    finally:
        _stop(proc)


def _run_button(page):
    return page.locator("button", has_text=re.compile(r"^\s*Run\s*$")).first


def _tab(page, name: str):
    return page.locator(".lm-TabBar-tab", has_text=name).first


def _idle(page, timeout_ms: int = RUN_TIMEOUT_MS) -> None:
    """Wait until no progress row is showing (every long action of the visible tab ended)."""
    page.wait_for_function("() => ![...document.querySelectorAll('.wb-progress')].some(p => p.offsetParent !== null)",
                           timeout=timeout_ms)


def test_app_shell_and_transcribe_tab_come_first_and_scoring_shows_progress(app_page):
    from playwright.sync_api import expect

    page, seconds, _ = app_page
    assert seconds <= SHELL_SECONDS, f"the Run button took {seconds:.1f} s after the page answered"
    for name in APP_TABS:
        expect(_tab(page, name)).to_be_visible()
    expect(page.get_by_text(re.compile(r"corpus.*\(8 utterances\)")).first).to_be_visible()
    expect(page.get_by_text("demo model trained on synthetic speech only").first).to_be_visible()
    # the cold-cache scoring runs after the shell is up: counts in the widget, Run disabled meanwhile
    progress = page.locator(".wb-progress").filter(has_text=re.compile(r"\d+/8 utterances"))
    if _run_button(page).is_disabled():
        expect(progress.first).to_be_visible(timeout=60_000)
    expect(_run_button(page)).to_be_enabled(timeout=RUN_TIMEOUT_MS)
    expect(_table(page.locator("body"))).to_be_visible()
    assert page.get_by_text("Traceback (most recent call last)").count() == 0


def test_pressing_run_disables_it_and_shows_a_progress_bar(app_page):
    from playwright.sync_api import expect

    page, _, _ = app_page
    _tab(page, "Transcribe").click()
    expect(_run_button(page)).to_be_enabled(timeout=RUN_TIMEOUT_MS)
    page.evaluate(_RECORDER)
    _run_button(page).click()
    page.wait_for_function("() => window.__wb.disabled && window.__wb.progress", timeout=60_000)
    expect(_run_button(page)).to_be_enabled(timeout=RUN_TIMEOUT_MS)
    counts = page.evaluate("() => window.__wb.counts")
    assert any(re.search(r"\d+/8 utterances", c) for c in counts), counts[-3:]
    table = _table(page.locator("body"))
    labels = _options(table)
    assert len(labels) == 8 and all("→" in lbl and "%" in lbl for lbl in labels)  # texts and percent in the list
    table.select_option(label=labels[0])
    expect(page.get_by_text(re.compile(r"reference / hypothesis aligned")).first).to_be_visible(timeout=60_000)
    _docs_shot(page, "app-transcribe.png")


def test_every_tab_opens_without_a_broken_image_or_a_traceback(app_page):
    from playwright.sync_api import expect

    page, _, log = app_page
    for name in APP_TABS[1:]:
        _tab(page, name).click()
        expect(page.locator("h3", has_text=name).first).to_be_visible(timeout=120_000)
        assert page.evaluate(_BROKEN_IMAGES) == 0, f"{name}: a broken image before its data"
        if name == "Synthesis":
            page.locator("button", has_text="Synthesize").first.click()
            expect(page.get_by_text(re.compile(r"synthesized \d")).first).to_be_visible(timeout=RUN_TIMEOUT_MS)
        _idle(page)
        page.wait_for_timeout(1500)  # the last figure's bytes reach the page
        assert page.evaluate(_BROKEN_IMAGES) == 0, f"{name}: a broken image"
        assert page.get_by_text("Traceback (most recent call last)").count() == 0, name
        assert page.get_by_text(re.compile("could not open|failed:")).count() == 0, name
        _docs_shot(page, f"app-{name.lower()}.png")
    assert "Traceback" not in log.read_text()


def test_the_fake_microphone_records_into_the_session_and_is_transcribed(app_page):
    from playwright.sync_api import expect

    page, _, _ = app_page
    record = page.locator(".wb-mic-button")
    expect(record).to_have_text(re.compile("Record"))
    record.click()
    expect(record).to_have_text(re.compile("Stop"), timeout=30_000)
    time.sleep(4)
    record.click()
    heard = page.locator(".wb-heard")
    expect(heard).to_be_visible(timeout=RUN_TIMEOUT_MS)
    text = heard.inner_text()
    assert re.search(r"recording-1: heard “[A-Z' ]{8,}”", text), text
    expect(page.get_by_text(re.compile(r"corpus.*\(9 utterances\)")).first).to_be_visible()
    _shot(page, "browser-app-microphone.png")
