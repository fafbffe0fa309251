"""The Workbench app: each linked action driven through the widgets (no browser), the session's
replay and JSON round trip, and ``workbench app`` (dry run, and a real Voilà serving HTTP 200)."""
from __future__ import annotations

import html
import importlib.util
import io
import json
import math
import os
import subprocess
import sys
import time

import numpy as np
import pytest

pytest.importorskip("ipywidgets")

from conftest import requires_kokoro_assets  # noqa: E402
from workbench.data.corpus import Corpus, Utterance  # noqa: E402
from workbench.panels.app import PANELS, Workbench, parse_models  # noqa: E402
from workbench.panels.session import Session  # noqa: E402

MODELS = {"asr": "rand-ctc", "pretraining": "rand-pt"}
#: seconds the Voila test waits for the served app (raise it on a heavily shared machine)
SERVER_DEADLINE = float(os.environ.get("WORKBENCH_TEST_SERVER_DEADLINE", "55"))
OPTIONS = {"transcribe": {"n_boot": 20}, "embedding": {"method": "pca"}}


@pytest.fixture
def corpus(eval_corpus) -> Corpus:
    return eval_corpus.subset(eval_corpus.ids()[:3])


@pytest.fixture
def app(registry, corpus) -> Workbench:
    return Workbench(corpus, models=MODELS, registry=registry, panel_options=OPTIONS)


def _wav(value: bytes) -> np.ndarray:
    import soundfile as sf

    audio, _ = sf.read(io.BytesIO(value), dtype="float32")
    return audio


def _ref_side_error(panel, uid: str):
    """The first substitution or deletion button of ``uid`` in the transcribe panel, and its op."""
    panel.select(uid)
    ops = [op for op in panel.result.score.word_alignment(uid) if op.is_error]
    for button, op in zip(panel.error_words.children, ops):
        if op.ref_index is not None:
            return button, op
    return None, None


# ---------------------------------------------------------------------------- construction
def test_app_builds_lazily_and_runs_the_table(app, corpus):
    assert set(app.panels) == {"transcribe"} and app.current == "transcribe"
    t = app.transcribe
    assert app.session.corpus is corpus and t.corpus is corpus
    assert t.result is not None and {v for _, v in t.table.options} == set(corpus.ids())
    assert app.tabs.titles[:2] == ("Transcribe", "Alignment")
    assert "rand-ctc" in app.context.value and "rand-pt" in app.context.value
    app.tabs.selected_index = PANELS.index("alignment")  # what clicking the tab does
    assert "alignment" in app.panels and app.tabs.children[1].children == (app.alignment.layout,)


def test_models_from_a_dict_a_list_or_defaults(registry):
    assert parse_models(["rand-pt", "rand-ctc"], registry) == {"asr": ["rand-ctc"], "pretraining": "rand-pt",
                                                                "voice": None}
    assert parse_models({"asr": ["a", "b"], "voice": "af_bella"}, registry)["asr"] == ["a", "b"]
    with pytest.raises(Exception, match="unknown key"):
        parse_models({"ctc": "x"}, registry)


def test_default_corpus_is_the_evaluation_set(registry, eval_corpus):
    app = Workbench(models=MODELS, registry=registry, autorun=False)
    assert app.session.corpus.ids() == eval_corpus.ids()
    assert app.transcribe.result is None  # autorun=False: nothing ran


# ---------------------------------------------------------------------------- (a) select a row
def test_selecting_a_row_shows_it_in_alignment_codebook_and_embedding(app, corpus):
    t, a = app.transcribe, app.alignment
    cb, emb = app.open("codebook"), app.open("embedding")  # autorun: each analyses once when opened
    assert cb.result is not None and emb.result is not None
    app.open("transcribe")
    uid = next(v for _, v in t.table.options if v != a.utterance.value)
    t.table.value = uid  # a click on the row
    assert app.session.selected_utterance == uid
    assert a.utterance.value == uid and a.analysis.id == uid and a.result is not None
    assert cb.selected_utterance == uid and uid in cb.sequence_label.value
    own = (emb.embedding.labels["utterance"] == uid).to_numpy()
    assert own.sum() > 0 and np.array_equal(emb.highlight, own)
    assert uid in app.context.value
    assert app.current == "transcribe"  # selecting a row does not move the user


def test_a_selection_made_before_a_tab_opens_is_applied_when_it_is_built(registry, corpus):
    app = Workbench(corpus, models=MODELS, registry=registry, autorun=False)
    uid = corpus.ids()[2]
    app.session.select(uid, (0.2, 0.6))  # e.g. from the embedding map, before Alignment was ever opened
    assert "alignment" in app.panels and app.current == "alignment"  # a span opens the alignment view
    a = app.alignment
    assert a.utterance.value == uid and a.analysis.id == uid
    assert a.zoom.value == pytest.approx((0.2, 0.6))


# ---------------------------------------------------------------------------- (b) click an error word
def test_an_error_word_moves_the_alignment_plays_it_and_rings_its_frames(app, corpus):
    emb = app.open("embedding")
    app.open("transcribe")
    assert "alignment" not in app.panels  # built by the click below
    t = app.transcribe
    button, op = None, None
    for uid in corpus.ids():
        button, op = _ref_side_error(t, uid)
        if button is not None:
            break
    assert button is not None, "the random model should leave some reference word wrong"
    button.click()
    a = app.alignment
    assert app.current == "alignment" and a.utterance.value == uid and a.result.mode == "forced"
    w = next(w for w in a.result.words if w.index == op.ref_index)
    assert w.word.lower() == op.ref.lower()  # the same reference word in both panels' numbering
    lo, hi = a.zoom.value
    assert lo <= w.start < w.end <= hi and hi - lo <= (w.end - w.start) + 0.3 + 1e-6  # zoomed on the word
    audio = corpus[uid].load(16_000)
    s0, s1 = round(w.start * 16_000), round(w.end * 16_000)
    played = _wav(a.audio.value)
    assert len(played) == s1 - s0 and np.allclose(played, audio[s0:s1], atol=2 / 32768)
    assert a.audio.autoplay  # the word plays as soon as it is placed

    hl = app.session.highlight_frames
    assert hl["utterance"] == uid and hl["word"] == op.ref
    assert (hl["start_frame"], hl["end_frame"]) == (math.floor(w.start / 0.02 + 1e-6), math.ceil(w.end / 0.02 - 1e-6))
    labels = emb.embedding.labels
    f = labels["frame"].to_numpy()
    expect = (labels["utterance"] == uid).to_numpy() & (f >= hl["start_frame"]) & (f < hl["end_frame"])
    assert expect.sum() > 0 and np.array_equal(emb.highlight, expect)


def test_a_word_clicked_in_the_alignment_view_is_ringed_in_the_embedding(app, corpus):
    a = app.open("alignment")
    word = a.play_word(a.result.words[0].index)  # what the word's button does
    hl = app.session.highlight_frames
    assert app.session.selected_word is word
    assert hl["utterance"] == word["utterance"] and hl["start"] == word["start"]
    assert hl["start_frame"] == math.floor(word["start"] / 0.02 + 1e-6)


# ---------------------------------------------------------------------------- (c) select embedding points
def test_points_selected_in_the_embedding_open_in_the_alignment_view(app, corpus):
    emb = app.open("embedding")
    xy = emb.embedding.coords
    x_mid = float(np.median(xy[:, 0]))
    emb.x_range.value = (float(xy[:, 0].min()), x_mid)
    emb.y_range.value = (float(xy[:, 1].min()), float(xy[:, 1].max()))
    emb.select_button.click()
    inside = emb.embedding.to_frame()
    inside = inside[inside["x"].between(*emb.x_range.value) & inside["y"].between(*emb.y_range.value)]
    assert len(emb.selected_points) == len(inside) > 0
    groups = inside.groupby(["utterance", "word_index"]).ngroups
    assert len(emb.open_choice.options) == groups and not emb.open_button.disabled
    current = app.session.selected_utterance
    label, (uid, span) = next(((l, v) for l, v in emb.open_choice.options if v[0] != current),
                              emb.open_choice.options[0])
    emb.open_choice.value = (uid, span)
    emb.open_button.click()
    a = app.alignment
    assert app.current == "alignment" and app.session.selected_utterance == uid
    assert a.utterance.value == uid and a.analysis.id == uid
    assert a.zoom.value == pytest.approx((span[0], min(span[1], a.zoom.max)))


# ---------------------------------------------------------------------------- (d) synthesis -> session
@requires_kokoro_assets
def test_a_synthesized_sentence_is_transcribed_scored_and_aligned(app, corpus):
    n = len(corpus)
    a = app.alignment
    s = app.open("synthesis")
    s.text.value = "The red boat sails home."
    s.synth_button.click()
    assert s.result is not None, s.status.value
    s.send_button.click()
    uid = app.session.selected_utterance
    assert uid.startswith("synth-") and len(app.session.corpus) == n + 1 and uid in app.session.corpus.ids()
    # the transcribe table was re-run (only the new audio went through the model) and selects the new row
    t = app.transcribe
    assert uid in set(t.result.score.scored["id"]) and t.table.value == uid
    assert t.result.score.row(uid)["ref_words"] == 5
    # the alignment view knows and shows it, aligned against the sentence
    assert uid in a.utterance.options and a.utterance.value == uid and a.analysis.id == uid
    assert [w.word.lower() for w in a.result.words] == ["the", "red", "boat", "sails", "home"]
    assert a.analysis.duration == pytest.approx(len(app.session.corpus[uid].array) / 16_000, abs=0.02)


def test_an_utterance_added_to_the_session_reaches_the_table_and_the_alignment(app, corpus):
    a = app.alignment
    audio = corpus[0].load(16_000)[: 16_000]
    app.session.add_utterance(Utterance(id="added-1", array=audio, sample_rate=16_000, text="hello there",
                                        duration=1.0))
    assert app.session.selected_utterance == "added-1"
    assert "added-1" in set(app.transcribe.result.score.scored["id"]) and app.transcribe.table.value == "added-1"
    assert a.utterance.value == "added-1" and a.analysis.duration == pytest.approx(1.0)


# ---------------------------------------------------------------------------- session
def test_session_replays_state_to_late_observers_in_the_order_it_was_set():
    s = Session()
    s.selected_word = {"utterance": "u1", "word": "x"}
    s.select("u1", (1.0, 2.0))
    seen = []
    with s.capture() as observers:
        s.observe(lambda ch: seen.append((ch.name, ch.new)), ("selected_utterance", "selected_span", "selected_word"))
    s.replay(observers)
    assert seen == [("selected_word", {"utterance": "u1", "word": "x"}), ("selected_utterance", "u1"),
                    ("selected_span", (1.0, 2.0))]
    s.select("u2")  # the word belonged to u1: cleared
    assert s.selected_word is None and s.selected_span is None


def test_observer_order_runs_later_observers_after_the_panels():
    s = Session()
    calls = []
    s.observe(lambda ch: calls.append("app"), "selected_utterance", order=1)
    s.observe(lambda ch: calls.append("panel"), "selected_utterance")
    s.select("a")
    assert calls == ["panel", "app"]
    with pytest.raises(ValueError, match="not observable"):
        s.observe(print, "selected")


def test_session_json_round_trip_keeps_corpus_models_selection_and_synthesized_audio(tmp_path, corpus):
    s = Session(corpus=corpus.subset(corpus.ids()), asr_model="m-ctc", pretraining_model="m-pt", tts_voice="af_bella")
    audio = np.sin(np.linspace(0, 200, 8000)).astype(np.float32) * 0.3
    s.add_utterance(Utterance(id="synth-0001", array=audio, sample_rate=16_000, text="made up"))
    s.selected_span = (0.1, 0.4)
    s.selected_word = {"utterance": "synth-0001", "ref_index": np.int64(1), "word": "up"}
    path = s.save(tmp_path / "sub" / "session.json")
    data = json.loads(path.read_text())
    assert data["corpus"] == corpus.source and data["corpus_ids"] == corpus.ids()
    assert data["added"][0]["audio"] == "session.audio/synth-0001.wav"
    back = Session.load(path)
    assert back.corpus.ids() == corpus.ids() + ["synth-0001"]
    assert np.array_equal(back.corpus["synth-0001"].array, audio) and back.corpus["synth-0001"].text == "made up"
    assert (back.asr_model, back.pretraining_model, back.tts_voice) == ("m-ctc", "m-pt", "af_bella")
    assert back.selected_utterance == "synth-0001" and back.selected_span == (0.1, 0.4)
    assert back.selected_word == {"utterance": "synth-0001", "ref_index": 1, "word": "up"}


def test_workbench_save_and_from_session_reopen_the_same_view(app, registry, corpus, tmp_path):
    t = app.transcribe
    uid = corpus.ids()[1]
    t.select(uid)
    a = app.open("alignment")
    a.play_word(a.result.words[-1].index)
    path = app.save_session(tmp_path / "view.json")
    again = Workbench.from_session(path, registry=registry, panel_options=OPTIONS)
    assert again.session.corpus.ids() == corpus.ids()
    assert again.asr_models == ["rand-ctc"] and again.session.pretraining_model == "rand-pt"
    assert again.current == "alignment" and again.session.selected_utterance == uid
    assert again.transcribe.result is not None and again.transcribe.table.value == uid  # the table follows too
    b = again.alignment
    assert b.utterance.value == uid
    lo, hi = b.zoom.value
    w = a.selected_word
    assert lo <= w["start"] and w["end"] <= hi and hi - lo < b.zoom.max  # zoomed on the saved word again
    assert b.segment is not None and len(b.segment) == len(a.segment)


# ---------------------------------------------------------------------------- workbench app
def _cli(*args: str, env=None, **kw):
    return subprocess.run([sys.executable, "-m", "workbench", "app", *args], capture_output=True, text=True,
                          env={**os.environ, **(env or {})}, **kw)


def test_cli_dry_run_prints_a_loopback_voila_command(tiny_dirs, tmp_path):
    out = _cli("--dry-run", "--port", "0", "--asr", str(tiny_dirs["ctc"]), "--pretraining", "w2v2-tiny",
               timeout=60)
    assert out.returncode == 0, out.stderr
    lines = out.stdout.strip().splitlines()
    env = dict(line.split("=", 1) for line in lines[:-2])
    cmd, url = lines[-2], lines[-1]
    assert json.loads(env["WORKBENCH_APP_MODELS"].strip("'")) == {"asr": [str(tiny_dirs["ctc"])],
                                                                   "pretraining": "w2v2-tiny"}
    assert "-m voila" in cmd and "--Voila.ip=127.0.0.1" in cmd and "--no-browser" in cmd and "app.ipynb" in cmd
    port = int(cmd.split("--port=")[1].split()[0])
    token = url.split("?token=")[1]
    assert url == f"http://127.0.0.1:{port}/?token={token}" and port > 0 and len(token) >= 32
    assert token not in cmd and "token" not in cmd  # never on a command line (ps shows it to every user)
    assert env["WORKBENCH_APP_WORKDIR"].strip("'") == os.getcwd()
    bad = _cli("--dry-run", "--corpus", str(tmp_path / "nope.jsonl"), timeout=60)
    assert bad.returncode == 2 and "no such corpus" in bad.stderr
    # --lm implies beam search in the transcribe panel; a file is passed as an absolute path
    lm = tmp_path / "my.arpa"
    lm.write_text("\\data\\\n")
    beam = _cli("--dry-run", "--lm", str(lm), timeout=60)
    env = dict(line.split("=", 1) for line in beam.stdout.strip().splitlines()[:-2])
    assert env["WORKBENCH_APP_DECODER"].strip("'") == "beam" and env["WORKBENCH_APP_LM"].strip("'") == str(lm)
    both = _cli("--dry-run", "--decoder", "both", timeout=60)
    assert "WORKBENCH_APP_DECODER=both" in both.stdout and "WORKBENCH_APP_LM" not in both.stdout
    clash = _cli("--dry-run", "--decoder", "greedy", "--lm", "demo-lm", timeout=60)
    assert clash.returncode == 2 and "takes no --lm" in clash.stderr


def test_from_environment_starts_the_transcribe_panel_on_the_asked_decoder(registry, monkeypatch):
    from workbench.panels.app import from_environment

    monkeypatch.setenv("WORKBENCH_APP_DECODER", "both")
    monkeypatch.setenv("WORKBENCH_APP_AUTORUN", "0")
    wb = from_environment(registry=registry, background=False)
    panel = wb.transcribe
    if "both" not in [v for _, v in panel.decoder.options]:
        pytest.skip("the demo LM (demo-lm) is not available here")
    assert panel.decoder.value == "both" and panel.lm == "demo-lm"


def test_app_notebook_is_committed_without_outputs():
    from pathlib import Path

    nb = json.loads((Path(__file__).resolve().parents[1] / "notebooks" / "app.ipynb").read_text())
    code = [c for c in nb["cells"] if c["cell_type"] == "code"]
    assert code and all(not c["outputs"] and c["execution_count"] is None for c in code)


@pytest.mark.skipif(importlib.util.find_spec("voila") is None, reason="voila is not installed")
def _readable(path) -> bool:
    try:
        path.read_bytes()
        return True
    except OSError:
        return False


def test_cli_serves_the_app_with_voila_on_loopback(tiny_dirs, corpus, tmp_path):
    """A real server: the app answers on loopback with its token, refuses a foreign Host header
    (DNS rebinding) with and without a token, and no process shows the token in its command line."""
    import http.client
    from pathlib import Path
    from urllib.parse import urlsplit

    manifest = tmp_path / "three.jsonl"
    manifest.write_text("".join(json.dumps({"id": u.id, "audio_filepath": u.audio, "text": u.text}) + "\n"
                                for u in corpus))
    start = time.monotonic()
    proc = subprocess.Popen([sys.executable, "-m", "workbench", "app", "--port", "0", "--no-autorun",
                             "--corpus", str(manifest), "--asr", str(tiny_dirs["ctc"]),
                             "--pretraining", str(tiny_dirs["pretraining"])],
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
                            env={**os.environ, "PYTHONUNBUFFERED": "1"})
    try:
        url = proc.stdout.readline().split("workbench app: ")[1].split()[0]
        parts = urlsplit(url)
        assert parts.hostname == "127.0.0.1" and parts.query.startswith("token=")
        deadline = start + SERVER_DEADLINE
        while True:  # wait for the server to listen
            conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=max(1.0, deadline - time.monotonic()))
            try:
                conn.request("GET", "/")  # no token: sent to the login page, not the app
                anonymous = conn.getresponse()
                break
            except ConnectionRefusedError:
                assert time.monotonic() < deadline and proc.poll() is None, "voila did not start listening"
                time.sleep(0.5)
        anonymous.read()
        assert anonymous.status in (302, 403)
        conn.request("GET", f"/?{parts.query}")
        resp = conn.getresponse()
        assert resp.status == 200
        body = ""
        while "application/vnd.jupyter.widget-view+json" not in body:  # Voila streams cell outputs as they run
            assert time.monotonic() < deadline, f"the app's widget did not appear within {SERVER_DEADLINE:.0f} s"
            chunk = resp.read1(65536).decode(errors="replace")
            assert chunk, f"the page ended without the app's widget: {body[-500:]}"
            body += chunk
        assert "Traceback" not in body and "error when executing" not in body
        token = parts.query.split("=", 1)[1]
        for host in ("evil.example", f"evil.example:{parts.port}", "127.0.0.1.nip.io"):
            other = http.client.HTTPConnection(parts.hostname, parts.port, timeout=30)
            other.request("GET", f"/?{parts.query}", headers={"Host": host})
            refused = other.getresponse()
            refused.read()
            assert refused.status == 403, host
        local = http.client.HTTPConnection(parts.hostname, parts.port, timeout=30)
        local.request("GET", "/login", headers={"Host": f"localhost:{parts.port}"})
        assert local.getresponse().status == 200
        cmdlines = [p.read_bytes() for p in Path("/proc").glob("[0-9]*/cmdline") if _readable(p)]
        assert cmdlines and not any(token.encode() in c for c in cmdlines)
    finally:
        proc.terminate()  # the command exec'd into Voila: this stops the server itself
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


# ---------------------------------------------------------------------------- served app: security (issue 18 row 15)
def test_token_comes_from_the_environment_or_an_owner_only_file(tmp_path):
    secret = "0123456789abcdef0123456789abcdef"
    out = _cli("--dry-run", "--port", "0", env={"WORKBENCH_APP_TOKEN": secret}, timeout=60)
    assert out.returncode == 0 and out.stdout.strip().endswith(f"?token={secret}")
    assert secret not in out.stdout.splitlines()[-2]  # not in the Voila command
    token_file = tmp_path / "token"
    token_file.write_text("fedcba9876543210fedcba9876543210\n")
    token_file.chmod(0o644)
    loose = _cli("--dry-run", "--port", "0", "--token-file", str(token_file), timeout=60)
    assert loose.returncode == 2 and "other users can read it" in loose.stderr and "chmod 600" in loose.stderr
    token_file.chmod(0o600)
    ok = _cli("--dry-run", "--port", "0", "--token-file", str(token_file), timeout=60)
    assert ok.returncode == 0 and ok.stdout.strip().endswith("?token=fedcba9876543210fedcba9876543210")
    short = _cli("--dry-run", "--port", "0", env={"WORKBENCH_APP_TOKEN": "abc"}, timeout=60)
    assert short.returncode == 2 and "at least 16" in short.stderr
    nodir = _cli("--dry-run", "--port", "0", "--workdir", str(tmp_path / "nope"), timeout=60)
    assert nodir.returncode == 2 and "no such folder" in nodir.stderr


def test_the_page_saves_and_loads_only_inside_the_working_folder(registry, corpus, tmp_path):
    work = tmp_path / "work"
    work.mkdir()
    app = Workbench(corpus, models=MODELS, registry=registry, autorun=False, root=work, microphone=False)
    assert app.session_path.value == str(work / "workbench-session.json")  # an absolute path in the folder
    app.save_button.click()
    assert (work / "workbench-session.json").is_file() and "saved to" in app.status.value
    for outside in (str(tmp_path / "evil.json"), "../evil.json", "/etc/evil.json"):
        app.session_path.value = outside
        app.save_button.click()
        assert "outside the app&#x27;s working folder" in app.status.value, outside
    assert not (tmp_path / "evil.json").exists()
    app.session_path.value = "sub/ok.json"  # relative names land inside the folder
    app.save_button.click()
    assert (work / "sub" / "ok.json").is_file()
    t = app.transcribe
    t.corpus_path.value = str(tmp_path.parent)
    t.load_button.click()
    assert "outside the app&#x27;s working folder" in t.status.value and t.corpus is corpus
    (work / "mine.jsonl").write_text("".join(json.dumps({"id": u.id, "audio_filepath": u.audio, "text": u.text})
                                             + "\n" for u in corpus))
    t.corpus_path.value = "mine.jsonl"
    t.load_button.click()
    assert [u.id for u in t.corpus] == corpus.ids() and app.session.corpus is t.corpus


def test_a_failed_upload_says_why_and_resets_the_counter(registry, corpus):
    import datetime

    app = Workbench(corpus, models=MODELS, registry=registry, autorun=False, microphone=False)
    t = app.transcribe
    t.upload.value = ({"name": "notes.wav", "type": "audio/wav", "size": 11, "content": memoryview(b"not a wave"),
                       "last_modified": datetime.datetime(2024, 1, 1, tzinfo=datetime.timezone.utc)},)
    assert "notes.wav could not be read as audio" in t.status.value and "upload a WAV" in t.status.value
    assert "_io.BytesIO" not in t.status.value and "object at 0x" not in t.status.value
    assert t.upload.value == () and len(t.corpus) == len(corpus)


def test_a_recording_joins_the_corpus_and_is_transcribed(registry, corpus):
    pytest.importorskip("anywidget")
    app = Workbench(corpus, models=MODELS, registry=registry, panel_options=OPTIONS)
    voice = corpus[corpus.ids()[0]]
    samples = voice.load(16_000)
    app.microphone.receive(samples, 16_000)  # what the browser's Stop sends
    uid = "recording-1"
    row = app.transcribe.result.score.row(uid)
    assert uid in app.session.corpus.ids() and row["hypothesis"] is not None
    assert app.session.selected_utterance == uid and app.transcribe.table.value == uid
    assert f"heard “{html.escape(row['hypothesis'])}”" in app.heard.value and not app.microphone.busy
    heard = _wav(app.transcribe.audio.value)
    assert abs(len(heard) - len(samples)) <= 1
    app.microphone.receive(samples[:100], 16_000)  # a click on Stop right after Record
    assert "nothing recorded" in app.microphone.message and "recording-2" not in app.session.corpus.ids()


def test_the_served_app_runs_long_actions_in_the_background_with_progress_and_cancel(registry, eval_corpus):
    from workbench.panels.base import Cancelled

    app = Workbench(eval_corpus.subset(eval_corpus.ids()[:6]), models=MODELS, registry=registry, background=True,
                    panel_options=OPTIONS, microphone=False)
    t = app.transcribe
    app.transcribe.wait(300)  # the autorun: Run was disabled while it ran, enabled after
    assert t.result is not None and not t.run_button.disabled and t.progress.value == t.progress.max == 6
    assert t.progress_row.box.layout.display == "none"
    seen = []
    t.progress_row.bar.observe(lambda ch: seen.append((ch["new"], t.run_button.disabled,
                                                       t.progress_row.box.layout.display)), "value")
    t.progress_row.bar.observe(lambda ch: t.progress_row.cancel() if ch["new"] == 2 else None, "value")
    t.result = None
    t.run_button.click()
    t.wait(300)
    assert seen and all(disabled and shown is None for _, disabled, shown in seen)
    assert max(v for v, _, _ in seen) == 2 and "cancelled" in t.status.value and t.result is None
    assert not t.run_button.disabled and issubclass(Cancelled, Exception)


def test_served_app_settings_cull_idle_kernels_and_keep_the_token_out_of_argv(tmp_path, monkeypatch):
    from workbench.cli import build_parser

    monkeypatch.setenv("WORKBENCH_APP_TOKEN", "a" * 32)
    args = build_parser().parse_args(["app", "--port", "0", "--workdir", str(tmp_path), "--cull-idle", "5"])
    from workbench.commands.app import settings

    argv, config, url, env = settings(args)
    assert config["Voila"]["token"] == "a" * 32 and not any("a" * 32 in a for a in argv)
    kernels = config["MappingKernelManager"]
    assert kernels["cull_idle_timeout"] == 300 and kernels["cull_interval"] == 60 and not kernels["cull_connected"]
    assert env["WORKBENCH_APP_WORKDIR"] == str(tmp_path.resolve()) and url.endswith("?token=" + "a" * 32)
    never = settings(build_parser().parse_args(["app", "--port", "0", "--cull-idle", "0", "--no-token"]))
    assert never[1]["MappingKernelManager"]["cull_idle_timeout"] == 0 and never[1]["Voila"]["token"] is None
    assert "token" not in never[2]
