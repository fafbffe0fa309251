"""Linear CKA properties, the utterance split, chance level, and the layer-wise probe."""
from __future__ import annotations

import numpy as np
import pytest

from conftest import requires_trained
from workbench.representations.probe import cka_matrix, layer_probe, linear_cka, majority_chance, split_utterances


def test_linear_cka_properties():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(300, 12))
    q, _ = np.linalg.qr(rng.normal(size=(12, 12)))
    assert linear_cka(x, x) == pytest.approx(1.0)
    assert linear_cka(x, x @ q) == pytest.approx(1.0)  # orthogonal transform
    assert linear_cka(x, 3.7 * x) == pytest.approx(1.0)  # isotropic scaling
    assert linear_cka(x, x + 5.0) == pytest.approx(1.0)  # centring removes offsets
    y = rng.normal(size=(300, 8))
    assert linear_cka(x, y) == pytest.approx(linear_cka(y, x))
    assert linear_cka(x, y) < 0.1  # unrelated
    stretched = x * np.r_[10.0, np.ones(11)]  # anisotropic scaling is *not* invariant
    assert linear_cka(x, stretched) < 0.9
    with pytest.raises(ValueError, match="same rows"):
        linear_cka(x, y[:10])


def test_split_and_chance_by_hand():
    ids = [f"u{i}" for i in range(8)]
    train, test = split_utterances(ids, test_fraction=0.25, seed=4)
    assert len(test) == 2 and not set(train) & set(test) and set(train) | set(test) == set(ids)
    assert split_utterances(ids, test_fraction=0.25, seed=4) == (train, test)
    assert majority_chance(["A", "A", "B"], ["A", "B", "B", "C"]) == ("A", 0.25)


@pytest.fixture(scope="module")
def ctc_result(shared_registry, eval_corpus):
    from workbench.asr.engine import analyze

    return analyze(eval_corpus.subset(6), "rand-ctc", registry=shared_registry, layers="all")


def test_probe_runs_on_random_weights_with_correct_chance(ctc_result):
    from workbench.representations.embeddings import frame_table

    probe = layer_probe(ctc_result, seed=1)
    assert probe.layers == [0, 1, 2, 3, 4]
    assert all(0 <= a <= 1 for a in probe.accuracy)
    df = frame_table(ctc_result, 0).labels
    chars = df["char"].to_numpy()
    keep = chars != ""
    train = keep & df["utterance"].isin(probe.train_utterances).to_numpy()
    test = keep & df["utterance"].isin(probe.test_utterances).to_numpy()
    values, counts = np.unique(chars[train].astype(str), return_counts=True)
    majority = values[np.argmax(counts)]
    assert probe.majority == majority
    assert probe.chance == pytest.approx(np.mean(chars[test] == majority))
    assert probe.test_frames == test.sum() and probe.train_frames == train.sum()
    fig = probe.plot()
    assert len(fig.axes[0].lines) == 3


def test_cka_matrix_on_layers(ctc_result):
    cka = cka_matrix(ctc_result, max_frames=500)
    m = cka.matrix
    assert m.shape == (5, 5) and cka.frames == 500
    np.testing.assert_allclose(np.diag(m), 1.0)
    np.testing.assert_allclose(m, m.T)
    a = np.concatenate([x.hidden_states[1] for x in ctc_result])
    b = np.concatenate([x.hidden_states[3] for x in ctc_result])
    full = cka_matrix(ctc_result, layers=[1, 3], max_frames=None)
    assert full.matrix[0, 1] == pytest.approx(linear_cka(a, b))


@requires_trained
def test_probe_beats_chance_on_trained_checkpoint(eval_corpus):
    from workbench.asr.engine import analyze
    from workbench.models.registry import ModelRegistry

    reg = ModelRegistry()
    result = analyze(eval_corpus.subset(16), "w2v2-tiny-ctc", registry=reg, layers="all")
    probe = layer_probe(result, seed=0)
    assert max(probe.accuracy) > probe.chance + 0.2
    assert probe.best_layer > 0  # the transformer adds character information over the feature projection
