"""Corpus runs on Dask distributed: a LocalCluster of two worker processes on loopback gives the
same rows as the local run, each worker loads the model through its own registry, and a bad
file is an error row, not a failed run."""
from __future__ import annotations

import json
import os

import pytest

distributed = pytest.importorskip("distributed")

from conftest import EVAL_MANIFEST  # noqa: E402


@pytest.fixture(scope="module")
def client():
    """Two worker processes on 127.0.0.1; they inherit this process's environment (asset path,
    offline flag, cache folder), as workers started by ``dask worker`` inherit their shell's."""
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1",
                                  dashboard_address=None) as cluster, distributed.Client(cluster) as c:
        yield c


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    from workbench.data.corpus import Corpus, Utterance

    folder = tmp_path_factory.mktemp("dask-data")
    bad = folder / "broken.flac"
    bad.write_bytes(b"fLaC" + os.urandom(64))  # a FLAC signature and then garbage
    good = Corpus.load(EVAL_MANIFEST).utterances[:7]
    utts = good[:3] + [Utterance(id="broken", audio=str(bad), text="never heard")] + good[3:]
    return Corpus(utts, name="dask-test", source=None)


@pytest.fixture
def single_thread():
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)  # Dask workers run torch with OMP_NUM_THREADS=1; match them bit for bit
    yield
    torch.set_num_threads(before)


def test_workers_inherit_the_environment(client):
    keys = ("WORKBENCH_ASSET_PATH", "HF_HUB_OFFLINE", "WORKBENCH_CACHE")
    seen = client.run(lambda: {k: os.environ.get(k) for k in keys})
    assert len(seen) == 2
    for env in seen.values():
        assert env == {k: os.environ.get(k) for k in keys}


def test_dask_run_equals_local_run_and_keeps_error_rows(tmp_path, client, corpus, tiny_dirs, single_thread):
    from workbench.models.registry import ModelRegistry
    from workbench.evaluation.run_folder import RunFolder
    from workbench.evaluation.runs import run_corpus

    reg = ModelRegistry()
    reg.register("rand-ctc", tiny_dirs["ctc"])  # a user-registered checkpoint: travels as (name, kind, path)
    local = run_corpus(corpus, "rand-ctc", tmp_path / "local", registry=reg, chunk_size=2, shard_size=3)
    on_dask = run_corpus(corpus, "rand-ctc", tmp_path / "dask", registry=reg, executor=client, chunk_size=2,
                         shard_size=3)
    assert (tmp_path / "dask" / "results.jsonl").read_bytes() == (tmp_path / "local" / "results.jsonl").read_bytes()
    assert on_dask.rows == local.rows
    assert [r["id"] for r in on_dask.rows] == corpus.ids()  # corpus order, whatever order tasks finished in
    broken = on_dask.rows[3]
    assert broken["id"] == "broken" and broken["transcript"] is None
    assert broken["error"].startswith("AudioError") and "cannot be decoded" in broken["error"]
    assert all(r["transcript"] for r in on_dask.rows if r["id"] != "broken")
    assert on_dask.score.wer == pytest.approx(local.score.wer)
    assert on_dask.manifest["model"]["revision"] == local.manifest["model"]["revision"]
    # the chunks ran in the worker processes, not here
    workers = {r["worker"] for r in RunFolder(tmp_path / "dask").log_records() if r["event"] == "chunk"}
    assert workers and not any(w.endswith(f"pid {os.getpid()}") for w in workers)
    # each worker's default registry loaded the model from its path once, at most
    loads = client.run(lambda: __import__("workbench.models.registry", fromlist=["x"]).default_registry().load_count)
    assert set(loads.values()) <= {0, 1} and sum(loads.values()) >= 1

    # the concurrent.futures face of the same client works too, and resumes the run folder
    (tmp_path / "dask" / "results.jsonl").unlink()
    again = run_corpus(corpus, "rand-ctc", tmp_path / "dask", registry=reg, executor=client.get_executor(),
                       chunk_size=2, shard_size=3)
    assert (again.computed, again.reused) == (0, len(corpus))
    assert (tmp_path / "dask" / "results.jsonl").read_bytes() == (tmp_path / "local" / "results.jsonl").read_bytes()


def test_a_half_done_local_run_is_finished_on_dask(tmp_path, client, corpus, tiny_dirs, single_thread):
    """Rows computed here and rows computed on the workers make one run, identical to a local one."""
    from workbench.data.corpus import Corpus
    from workbench.models.registry import ModelRegistry
    from workbench.evaluation.runs import run_corpus

    reg = ModelRegistry()
    reg.register("rand-ctc", tiny_dirs["ctc"])
    out = tmp_path / "mixed"
    first = run_corpus(Corpus(corpus.utterances[:4], name="dask-test"), "rand-ctc", out, registry=reg,
                       chunk_size=2, shard_size=3, task="analyze")
    assert first.computed == 4
    # the run folder belongs to the full corpus only if it was started for it: a prefix is another corpus
    from workbench.evaluation.run_folder import RunMismatchError

    with pytest.raises(RunMismatchError, match="corpus utterances"):
        run_corpus(corpus, "rand-ctc", out, registry=reg, executor=client, chunk_size=2, shard_size=3,
                   task="analyze")
    whole = tmp_path / "whole"
    run_corpus(corpus, "rand-ctc", whole, registry=reg, chunk_size=2, shard_size=3, task="analyze")
    rows = [json.loads(line) for line in (whole / "results.jsonl").read_text().splitlines()]
    # drop the last two finished rows' shard and finish the run on the cluster
    import shutil

    shutil.rmtree(whole / "shards")
    (whole / "shards").mkdir()
    partial = whole / "shards" / "shard-00000.jsonl.partial"
    partial.write_text("".join(json.dumps(r, ensure_ascii=False, separators=(",", ":")) + "\n" for r in rows[:2]))
    done = run_corpus(corpus, "rand-ctc", whole, registry=reg, executor=client, chunk_size=2, shard_size=3,
                      task="analyze")
    assert (done.computed, done.reused) == (len(corpus) - 2, 2)
    assert done.rows == rows
    analyses = done.analyses()
    assert [a.id for a in analyses] == corpus.ids()
    assert analyses["broken"].error is not None and analyses[0].log_probs.shape[0] == rows[0]["frames"]
