"""Same file, same model, same options: the same answer, whatever was batched or cached before.

The random tiny checkpoint has no attention mask (like wav2vec2-base-960h), so zero padding
moves a padded clip's emissions: exactly the case where a batched run used to leak into later
one-by-one results through the analysis cache.
"""
from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

from workbench.asr.engine import analyze, store_for, transcribe
from workbench.data.corpus import Corpus
from workbench.models.registry import ModelRegistry


@pytest.fixture
def fresh_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("WORKBENCH_CACHE", str(tmp_path / "cache"))
    return tmp_path / "cache"


@pytest.fixture
def corpus12(eval_corpus) -> Corpus:
    return eval_corpus.subset(12)


def _lp(result) -> dict[str, np.ndarray]:
    return {a.id: a.log_probs for a in result}


def test_the_checkpoint_under_test_has_no_attention_mask(registry):
    assert registry.get("rand-ctc").uses_attention_mask is False


def test_default_is_exact_one_clip_per_pass(registry, corpus12, fresh_cache):
    result = analyze(corpus12, "rand-ctc", registry=registry)
    assert store_for(registry).forward_calls == len(corpus12)  # no padding: one clip per call
    for a in result:  # each equals the clip run alone, with no cache at all
        alone = analyze(Corpus([corpus12[a.id]]), "rand-ctc", registry=registry, cache=False)[0]
        np.testing.assert_array_equal(a.log_probs, alone.log_probs)


def test_a_batched_run_never_changes_a_later_exact_run(registry, corpus12, fresh_cache):
    uid = corpus12.utterances[0].id
    one = Corpus([corpus12[uid]])
    before = analyze(one, "rand-ctc", registry=registry)[0]
    batched = analyze(corpus12, "rand-ctc", registry=registry, batch_size=8)  # fills the cache with padded entries
    padded = [a for a in batched if not np.array_equal(a.log_probs, _lp(analyze(
        Corpus([corpus12[a.id]]), "rand-ctc", registry=registry))[a.id])]
    assert padded, "the batched run should pad (and so move) some clips, or this test proves nothing"
    after = analyze(one, "rand-ctc", registry=registry)[0]
    np.testing.assert_array_equal(before.log_probs, after.log_probs)
    # ... and in a new session reading the same disk cache
    fresh = ModelRegistry()
    fresh.register("rand-ctc", registry.spec("rand-ctc").location)
    np.testing.assert_array_equal(analyze(one, "rand-ctc", registry=fresh)[0].log_probs, before.log_probs)


def test_batched_results_do_not_depend_on_cache_history(registry, corpus12, fresh_cache):
    cold = _lp(analyze(corpus12, "rand-ctc", registry=registry, batch_size=4, cache=False))
    # warm the cache with a different batching of a part of the corpus, then run the same options again
    analyze(corpus12.subset(5), "rand-ctc", registry=registry, batch_size=3)
    analyze(corpus12.subset(7), "rand-ctc", registry=registry, batch_size=4)
    warm = _lp(analyze(corpus12, "rand-ctc", registry=registry, batch_size=4))
    assert cold.keys() == warm.keys()
    for uid in cold:
        np.testing.assert_array_equal(cold[uid], warm[uid], err_msg=uid)


def test_api_accepts_a_checkpoint_folder_as_model(registry, tiny_dirs, corpus12, fresh_cache):
    by_name = transcribe(corpus12.subset(2), "rand-ctc", registry=registry)
    by_path = transcribe(corpus12.subset(2), str(tiny_dirs["ctc"]), registry=registry)
    assert by_path == by_name


def _cli(*args, env_cache) -> subprocess.CompletedProcess:
    import os

    env = {**os.environ, "WORKBENCH_CACHE": str(env_cache), "WORKBENCH_PROGRESS": "0"}
    return subprocess.run([sys.executable, "-m", "workbench", *args], capture_output=True, text=True, env=env,
                          timeout=600)


def test_cli_transcript_is_the_same_before_and_after_a_batched_run(tiny_dirs, corpus12, tmp_path):
    files = [u.audio for u in corpus12]
    model = str(tiny_dirs["ctc"])
    cache = tmp_path / "cli-cache"
    first = _cli("transcribe", "--json", "--model", model, files[0], env_cache=cache)
    assert first.returncode == 0, first.stderr
    batched = _cli("transcribe", "--json", "--model", model, "--batch-size", "8", *files, env_cache=cache)
    assert batched.returncode == 0, batched.stderr
    again = _cli("transcribe", "--json", "--model", model, files[0], env_cache=cache)
    exact = _cli("transcribe", "--json", "--model", model, "--batch-size", "1", files[0], env_cache=cache)
    text = [json.loads(p.stdout.splitlines()[0])["transcript"] for p in (first, again, exact)]
    assert text[0] == text[1] == text[2]


def test_app_scores_the_same_on_every_visit(registry, corpus12, fresh_cache):
    pytest.importorskip("ipywidgets")
    from workbench.panels.session import Session
    from workbench.panels.transcribe import TranscribePanel

    def visit() -> float:
        panel = TranscribePanel(corpus12, models=("rand-ctc",), registry=registry, session=Session(registry=registry),
                                n_boot=50)
        panel.run_button.click()
        return panel.result.score.wer

    first = visit()
    analyze(corpus12, "rand-ctc", registry=registry, batch_size=8)  # another user batches the same corpus
    assert visit() == first
