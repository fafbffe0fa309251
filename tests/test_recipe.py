"""The demo checkpoints' recipe: labels, sentence split, augmentations, and a smoke run end to end.

CI never retrains the shipped checkpoints; the smoke run (a few steps on a few Kokoro
utterances) proves that data -> pretraining -> CTC -> export works and that a stopped stage
resumes where it left off.
"""
from __future__ import annotations

import json
from dataclasses import replace

import numpy as np
import pytest

from conftest import requires_kokoro_assets
from workbench.recipe.build import VOCAB
from workbench.recipe.data import EVAL_VOICES, TRAIN_VOICES, split_sentences
from workbench.recipe.run import FINETUNE, run_recipe
from workbench.recipe.sentences import spell_number
from workbench.recipe.train import _text_to_labels, ctc_batch

INV = {v: k for k, v in VOCAB.items()}


def test_labels_use_the_base_960h_ids():
    labels = _text_to_labels("It's 4 o'clock, Anna!")
    # digits are not in the alphabet (the generator spells numbers); punctuation becomes a word gap
    assert "".join(INV[i] for i in labels) == "IT'S|O'CLOCK|ANNA"
    assert labels[:3] == [VOCAB["I"], VOCAB["T"], VOCAB["'"]] == [10, 6, 27]


def test_numbers_are_spelled_and_splits_share_no_sentence_or_voice():
    assert spell_number(45) == "forty five" and spell_number(300) == "three hundred"
    train, held_out = split_sentences(200, 20, seed=0)
    assert len(train) == 200 and len(held_out) == 20 and not set(train) & set(held_out)
    assert not any(ch.isdigit() for s in train + held_out for ch in s)
    assert not set(TRAIN_VOICES) & set(EVAL_VOICES) and len(EVAL_VOICES) == 4


def _rows(n: int = 3) -> list[dict]:
    rng = np.random.default_rng(0)
    texts = ["HELLO THERE", "GOOD MORNING", "SEVEN"]
    return [{"array": rng.standard_normal(16_000 + 4_000 * i).astype(np.float32),
             "labels": _text_to_labels(texts[i % 3])} for i in range(n)]


def test_concatenation_joins_labels_with_a_word_gap():
    cfg = replace(FINETUNE, concat_augment=1.0, pad_augment=1.0, speed_perturb=0.0)
    rows = _rows()
    x, labels = ctc_batch(rows, [0, 1, 2], cfg, np.random.default_rng(0))
    # pairs (0, 1) joined, 2 on its own: two rows; the first reads "HELLO THERE|GOOD MORNING"
    assert len(labels) == 2
    assert "".join(INV[i] for i in labels[0]) == "HELLO|THERE|GOOD|MORNING"
    assert labels[1] == rows[2]["labels"]
    # the joined clip starts with clip 0 and ends with clip 1; then 5-50% extra zeros
    joined = x[0].numpy()
    np.testing.assert_array_equal(joined[:16_000], rows[0]["array"])
    start1 = 16_000 + int(np.flatnonzero(joined[16_000:] != 0)[0])  # clip 1 starts after the pause
    assert 0.1 * 16_000 <= start1 - 16_000 <= 0.6 * 16_000
    np.testing.assert_array_equal(joined[start1:start1 + 20_000], rows[1]["array"])
    width = start1 + 20_000
    assert x.shape[1] >= width + int(width * 0.05) and float(np.abs(x[:, width:].numpy()).max()) == 0.0


def test_speed_perturbation_changes_the_length_by_the_factor():
    cfg = replace(FINETUNE, concat_augment=0.0, pad_augment=0.0, speed_perturb=0.1)
    rows = _rows(1)
    x, _ = ctc_batch(rows, [0], cfg, np.random.default_rng(3))
    ratio = len(rows[0]["array"]) / x.shape[1]
    assert 0.9 <= ratio <= 1.1 and abs(ratio - 1) > 1e-3


@requires_kokoro_assets
def test_smoke_recipe_makes_loadable_checkpoints_and_resumes(tmp_path):
    from workbench.asr.engine import analyze
    from workbench.recipe.data import make_data
    from workbench.models.registry import ModelRegistry

    paths = make_data(tmp_path / "data", n_train=4, n_eval=2, eval_dir=tmp_path / "eval", progress=False)
    rows = [json.loads(line) for line in paths["train"].read_text().splitlines()]
    assert len(rows) == 4 and all(r["speaker"] in TRAIN_VOICES for r in rows)
    assert all(abs(r["words"][-1]["end"] - r["duration"]) < 1.0 for r in rows)  # Kokoro's timings kept

    run = tmp_path / "run"
    out = run_recipe(run, data_dir=tmp_path / "data", smoke=True, export_to=tmp_path / "export")
    assert out["pretrain_done"] and out["ctc_done"]
    first = json.loads((run / "ctc" / "log.json").read_text())
    assert [r["step"] for r in first] == [1, 2, 3]
    # a later call with more steps resumes at step 4 (the checkpoint, not a restart)
    run_recipe(run, data_dir=tmp_path / "data", stages=("ctc",), smoke=True, ctc_steps=5)
    log = json.loads((run / "ctc" / "log.json").read_text())
    assert [r["step"] for r in log] == [1, 2, 3, 4, 5]

    reg = ModelRegistry()
    reg.register("smoke-ctc", tmp_path / "export" / "w2v2-tiny-ctc")
    reg.register("smoke-pre", tmp_path / "export" / "w2v2-tiny")
    assert reg.spec("smoke-ctc").kind == "ctc" and reg.spec("smoke-pre").kind == "pretraining"
    audio = np.zeros(16_000, dtype=np.float32)
    a = analyze(audio, "smoke-ctc", registry=reg, cache=False)[0]
    assert a.ok and a.log_probs.shape == (49, 32)
    codes = analyze(audio, "smoke-pre", registry=reg, cache=False, codes=True)[0]
    assert codes.codes.shape == (49, 2) and int(codes.codes.max()) < 320


def test_smoke_needs_data_first(tmp_path):
    with pytest.raises(FileNotFoundError, match="make the data first"):
        run_recipe(tmp_path / "run", data_dir=tmp_path / "nothing", smoke=True)
