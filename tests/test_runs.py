"""Resumable corpus runs: a real SIGKILL half-way, a restart that recomputes nothing finished,
results identical to an uninterrupted run; refusals on changed arguments; torn-write repair."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from conftest import EVAL_MANIFEST, ROOT

N_GOOD = 12
BAD_AT = 5  # a text file renamed .wav sits at this corpus position


@pytest.fixture(scope="module")
def run_manifest(tmp_path_factory) -> Path:
    """12 kokoro-eval utterances (absolute paths) with one undecodable file in the middle."""
    folder = tmp_path_factory.mktemp("run-data")
    rows = [json.loads(line) for line in EVAL_MANIFEST.read_text().splitlines()[:N_GOOD]]
    for row in rows:
        row["audio_filepath"] = str((EVAL_MANIFEST.parent / row["audio_filepath"]).resolve())
        row.pop("words", None)
    bad = folder / "not-audio.wav"
    bad.write_text("this is a text file, renamed .wav\n" * 20)
    rows.insert(BAD_AT, {"id": "bad-00000", "audio_filepath": str(bad), "text": "nothing here"})
    manifest = folder / "manifest.jsonl"
    manifest.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return manifest


@pytest.fixture
def single_thread():
    """One torch thread, as the CLI subprocesses get (OMP_NUM_THREADS=1), so numbers match bit for bit."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def _env() -> dict:
    env = dict(os.environ)
    env.update(OMP_NUM_THREADS="1", WORKBENCH_PROGRESS="0", PYTHONPATH=str(ROOT))
    return env


def _cli(*args: str) -> list[str]:
    return [sys.executable, "-m", "workbench", "run", *args]


def _durable_lines(out: Path) -> int:
    shards = out / "shards"
    if not shards.exists():
        return 0
    return sum(p.read_bytes().count(b"\n") for p in shards.iterdir() if ".jsonl" in p.name and
               not p.name.endswith(".tmp"))


def test_sigkill_half_way_then_resume_recomputes_nothing_finished(tmp_path, run_manifest, tiny_dirs, single_thread):
    from workbench.models.registry import ModelRegistry
    from workbench.evaluation.run_folder import RunFolder
    from workbench.evaluation.runs import run_corpus
    from workbench.data.corpus import Corpus

    out = tmp_path / "run"
    args = _cli("--model", str(tiny_dirs["ctc"]), "--data", str(run_manifest), "--out", str(out),
                "--chunk-size", "2", "--shard-size", "4")
    proc = subprocess.Popen(args, env=_env(), cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 300  # model loading on a busy machine
    try:
        while _durable_lines(out) < 4:  # two chunks written: kill it half-way
            assert proc.poll() is None, f"the run ended before it could be killed: {proc.communicate()}"
            assert time.monotonic() < deadline, "no rows appeared within 300 s"
            time.sleep(0.01)
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        if proc.poll() is None and proc.returncode is None:
            proc.kill()
        proc.wait(timeout=60)
    assert proc.returncode == -signal.SIGKILL
    total = N_GOOD + 1
    finished_before = {r["id"] for r in RunFolder(out).load_rows(repair=False).values()}
    assert 4 <= len(finished_before) < total, "the kill did not land half-way"

    again = subprocess.run(args, env=_env(), cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert again.returncode == 1, again.stderr  # 1: the run finished with an error row (the bad file)
    assert "1 error rows" in again.stdout

    # the restart computed exactly the utterances that were not finished, each once
    log = RunFolder(out).log_records()
    starts = [r for r in log if r["event"] == "start"]
    assert [s["invocation"] for s in starts] == [1, 2]
    assert starts[1]["done"] == len(finished_before) and starts[1]["pending"] == total - len(finished_before)
    second = [r for r in log if r["event"] == "chunk" and r["invocation"] == 2]
    recomputed = [uid for r in second for uid in r["ids"]]
    assert not set(recomputed) & finished_before
    assert len(recomputed) == len(set(recomputed)) == total - len(finished_before)
    # one forward pass per readable utterance (exact: the checkpoint has no attention mask), none for the bad file
    expected_forwards = sum(1 for r in second for uid in r["ids"] if uid != "bad-00000")
    assert sum(r["forward_calls"] for r in second) == expected_forwards

    # shards are finalised (atomic rename), no partial or temp file is left
    assert sorted(p.name for p in (out / "shards").iterdir()) == [f"shard-{i:05d}.jsonl" for i in range(4)]

    # identical to an uninterrupted run, byte for byte
    reg = ModelRegistry()
    reg.register("ctc", tiny_dirs["ctc"])
    ref = run_corpus(Corpus.load(run_manifest), "ctc", tmp_path / "uninterrupted", registry=reg, chunk_size=2,
                     shard_size=4)
    assert (out / "results.jsonl").read_bytes() == (tmp_path / "uninterrupted" / "results.jsonl").read_bytes()
    rows = [json.loads(line) for line in (out / "results.jsonl").read_text().splitlines()]
    assert [r["index"] for r in rows] == list(range(total))
    bad = rows[BAD_AT]
    assert bad["id"] == "bad-00000" and bad["transcript"] is None
    assert bad["error"].startswith("AudioError") and "cannot be decoded" in bad["error"]
    good = [r for r in rows if r["error"] is None]
    assert len(good) == N_GOOD and all(r["transcript"] and r["scores"] for r in good)
    # the corpus table pools the shard rows: errors / reference words over the 12 scored utterances
    errors = sum(r["scores"]["errors"] for r in good)
    words = sum(r["scores"]["ref_words"] for r in good)
    assert ref.score.wer == pytest.approx(errors / words)
    corpus_json = json.loads((out / "scores" / "corpus.json").read_text())
    assert corpus_json["figures"]["wer"] == pytest.approx(errors / words)
    assert corpus_json["figures"]["failed"] == 1

    # --resume reads the arguments from run.json and finds nothing left to do
    from workbench.cli import main

    assert main(["run", "--resume", str(out)]) == 1
    log = RunFolder(out).log_records()
    assert [r for r in log if r["event"] == "start"][-1]["pending"] == 0
    assert not [r for r in log if r["event"] == "chunk" and r["invocation"] == 3]


@pytest.fixture
def small(eval_corpus):
    from workbench.data.corpus import Corpus

    return Corpus(eval_corpus.utterances[:4], name="small", source=eval_corpus.source)


def test_restart_with_other_arguments_is_refused_with_the_differences(tmp_path, small, registry, capsys):
    from workbench.evaluation.run_folder import RunMismatchError
    from workbench.evaluation.runs import run_corpus

    out = tmp_path / "run"
    first = run_corpus(small, "rand-ctc", out, registry=registry, chunk_size=2, shard_size=2)
    assert first.computed == 4 and first.complete
    with pytest.raises(RunMismatchError) as exc:
        run_corpus(small, "rand-pt", out, registry=registry, task="analyze", chunk_size=3, shard_size=2,
                   batch_size=1)
    msg = str(exc.value)
    for part in ("model name: 'rand-ctc' in run.json vs 'rand-pt' now", "task: 'evaluate'", "chunk_size: 2",
                 "analyze option batch_size", "another out folder", "--overwrite"):
        assert part in msg
    with pytest.raises(RunMismatchError, match="reference texts"):
        changed = [type(u)(**{**u.__dict__, "text": "changed"}) for u in small]
        run_corpus(type(small)(changed, name="small", source=small.source), "rand-ctc", out, registry=registry,
                   chunk_size=2, shard_size=2)
    # the same arguments again: everything is read back, nothing computed
    same = run_corpus(small, "rand-ctc", out, registry=registry, chunk_size=2, shard_size=2)
    assert (same.computed, same.reused) == (0, 4)
    assert same.rows == first.rows
    # overwrite starts afresh
    fresh = run_corpus(small, "rand-ctc", out, registry=registry, chunk_size=1, shard_size=2, overwrite=True)
    assert fresh.computed == 4 and fresh.manifest["options"]["chunk_size"] == 1
    # a folder that is not a run folder is never written into
    other = tmp_path / "notes"
    other.mkdir()
    (other / "mine.txt").write_text("keep me")
    with pytest.raises(RunMismatchError, match="not a run folder"):
        run_corpus(small, "rand-ctc", other, registry=registry)
    assert sorted(p.name for p in other.iterdir()) == ["mine.txt"]

    # the CLI says the same and exits 2
    from workbench.cli import main

    manifest = tmp_path / "m.jsonl"
    manifest.write_text("".join(json.dumps({"id": u.id, "audio_filepath": u.audio, "text": u.text}) + "\n"
                                for u in small))
    cli_out = tmp_path / "cli-run"
    assert main(["run", "--model", str(registry.spec("rand-ctc").location), "--data", str(manifest),
                 "--out", str(cli_out)]) == 0
    assert main(["run", "--model", str(registry.spec("rand-ctc").location), "--data", str(manifest),
                 "--out", str(cli_out), "--chunk-size", "3"]) == 2
    err = capsys.readouterr().err
    assert "chunk_size: 16 in run.json vs 3 now" in err and "--overwrite" in err


def test_torn_last_line_is_repaired_and_only_that_utterance_recomputed(tmp_path, small, registry):
    from workbench.asr.engine import store_for
    from workbench.evaluation.run_folder import RunFolder
    from workbench.evaluation.runs import run_corpus

    out = tmp_path / "run"
    full = run_corpus(small, "rand-ctc", out, registry=registry, chunk_size=1, shard_size=4)
    expected = (out / "results.jsonl").read_bytes()
    # simulate a power cut while the last row was being appended: the shard is still partial and
    # its last line is half written
    final = out / "shards" / "shard-00000.jsonl"
    partial = final.with_name(final.name + ".partial")
    data = final.read_bytes()
    last_line_start = data.rstrip(b"\n").rfind(b"\n") + 1
    partial.write_bytes(data[: last_line_start + 20])
    final.unlink()
    (out / "results.jsonl").unlink()
    store_for(registry).clear()
    before = store_for(registry).forward_calls
    again = run_corpus(small, "rand-ctc", out, registry=registry, chunk_size=1, shard_size=4)
    assert (again.computed, again.reused) == (1, 3)
    assert store_for(registry).forward_calls - before == 1
    assert (out / "results.jsonl").read_bytes() == expected
    assert again.rows == full.rows
    assert not partial.exists() and final.exists()
    last = RunFolder(out).log_records()[-1]
    assert last["ids"] == [small[3].id]


def test_a_chunk_that_fails_as_a_whole_is_retried_one_by_one(tmp_path, small, registry):
    """An utterance whose loading raises something the engine does not catch costs only its own row."""
    from workbench.data.corpus import Corpus, Utterance
    from workbench.evaluation.runs import run_corpus

    odd = Utterance(id="strings", array=np.array(["not", "numbers"]), sample_rate=16000)
    corpus = Corpus([small[0], odd, small[1]], name="odd")
    res = run_corpus(corpus, "rand-ctc", tmp_path / "run", registry=registry, chunk_size=3)
    assert [r["id"] for r in res.rows] == [small[0].id, "strings", small[1].id]
    assert res.rows[1]["error"].startswith("ValueError") and res.rows[1]["transcript"] is None
    assert all(res.rows[i]["transcript"] for i in (0, 2))
    assert res.score.to_frame()["scored"].item() == 2 and res.score.to_frame()["failed"].item() == 1


def test_analyze_task_keeps_arrays_that_rebuild_the_analyses(tmp_path, small, registry):
    from workbench.asr.engine import analyze
    from workbench.evaluation.runs import RunResult, run_corpus

    res = run_corpus(small, "rand-pt", tmp_path / "run", registry=registry, task="analyze", chunk_size=2,
                     layers=[1], codes=True)
    assert res.score is None  # a pretraining model has no transcript to score
    loaded = RunResult.load(tmp_path / "run").analyses()
    # chunks of 2 are batched as pairs; compare with the same pairs analysed directly
    pairs = [analyze(type(small)(small.utterances[i:i + 2]), "rand-pt", registry=registry, layers=[1], codes=True,
                     cache=False) for i in (0, 2)]
    for got, want in zip(loaded, [a for p in pairs for a in p]):
        assert got.id == want.id and got.num_samples == want.num_samples
        np.testing.assert_array_equal(got.codes, want.codes)
        np.testing.assert_allclose(got.layer(1), want.layer(1), rtol=0, atol=0)
    assert len(loaded) == 4 and all(a.ok for a in loaded)
    with pytest.raises(Exception, match="task='analyze'"):
        run_corpus(small, "rand-ctc", tmp_path / "eval", registry=registry).analyses()
