"""Frame tables, labels, UMAP/PCA projections (shape, seeded reproducibility, disk cache)."""
from __future__ import annotations

import numpy as np
import pytest

from workbench.representations.embeddings import (
    Embedding,
    error_map,
    error_words,
    frame_table,
    project,
    projection_key,
    utterance_table,
)
from workbench.representations.framelabels import frame_labels_for


@pytest.fixture(scope="module")
def ctc_result(shared_registry, eval_corpus):
    from workbench.asr.engine import analyze

    return analyze(eval_corpus.subset(4), "rand-ctc", registry=shared_registry, layers="all")


def _clusters(n=240, dims=24, seed=0):
    rng = np.random.default_rng(seed)
    centres = rng.normal(scale=6.0, size=(3, dims))
    return (centres[np.arange(n) % 3] + rng.normal(size=(n, dims))).astype(np.float32)


def test_frame_table_rows_and_labels(ctc_result):
    table = frame_table(ctc_result, 2, errors="auto")
    assert len(table) == sum(a.num_frames for a in ctc_result)
    assert table.vectors.shape[1] == ctc_result[0].hidden_states[2].shape[1]
    df = table.labels
    assert list(df.columns) == ["utterance", "speaker", "frame", "time", "char", "blank", "word", "word_index",
                                "error"]
    first = ctc_result[0]
    rows = df[df["utterance"] == first.id]
    np.testing.assert_array_equal(table.vectors[: len(rows)], first.hidden_states[2])
    labels = frame_labels_for(first)
    assert labels.source == "forced"  # the eval corpus has references that fit
    np.testing.assert_array_equal(rows["char"].to_numpy(), labels.chars)
    assert (rows["blank"].to_numpy() == (labels.chars == "")).all()
    assert rows["time"].iloc[10] == pytest.approx(10 * 0.02)
    # the reference words, in order, are the words the frames carry
    words = [w for w in rows.drop_duplicates("word_index")["word"] if w]
    assert words == labels.words
    errors = error_map(ctc_result)
    wrong = errors[first.id]
    inside = rows[rows["word_index"] >= 0]
    assert inside["error"].to_numpy(dtype=bool).tolist() == [i in wrong for i in inside["word_index"]]
    assert rows.loc[rows["word_index"] < 0, "error"].isna().all()


def test_error_words_by_hand():
    ref, hyp = ["A", "B", "C", "D"], ["A", "X", "C", "E", "F"]
    assert error_words(ref, hyp, side="reference") == {1, 3}
    assert error_words(ref, hyp, side="hypothesis") == {1, 3, 4}
    assert error_words(["A", "B"], [], side="reference") == {0, 1}


def test_umap_shape_seed_and_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("WORKBENCH_CACHE", str(tmp_path))
    x = _clusters()
    stored = project(x, method="umap", seed=1)
    assert stored.method == "umap" and stored.coords.shape == (240, 2) and not stored.cached
    again = project(x, method="umap", seed=1, cache=False)  # computed afresh
    assert not again.cached
    np.testing.assert_array_equal(again.coords, stored.coords)  # seeded: identical
    hit = project(x, method="umap", seed=1)
    assert hit.cached and hit.key == stored.key
    np.testing.assert_array_equal(hit.coords, stored.coords)
    assert len(list(tmp_path.rglob("*.npz"))) == 1
    options = {**stored.options, "min_dist": 0.5}
    assert projection_key(x, **options) != stored.key  # every option is part of the key
    assert projection_key(x, **stored.options) == stored.key


def test_pca_projection_and_subsample(ctc_result):
    table = frame_table(ctc_result, 4)
    emb = project(table, method="pca", subsample=300, seed=3, cache=False)
    assert isinstance(emb, Embedding) and emb.coords.shape == (300, 2)
    assert np.all(np.diff(emb.index) > 0)
    np.testing.assert_array_equal(emb.labels["frame"].to_numpy(), table.labels["frame"].to_numpy()[emb.index])
    from sklearn.decomposition import PCA

    sub = table.vectors[emb.index]
    ref = PCA(n_components=2, random_state=3).fit_transform(PCA(50, random_state=3).fit_transform(sub)
                                                            if sub.shape[1] > 50 else sub)
    np.testing.assert_allclose(np.abs(emb.coords), np.abs(ref), rtol=1e-3, atol=1e-3)
    df = emb.to_frame()
    assert {"x", "y", "char", "utterance"} <= set(df.columns) and len(df) == 300
    uid = ctc_result[1].id
    assert emb.mask(utterance=uid).sum() == (df["utterance"] == uid).sum()
    inside = emb.points_in((float(df.x.min()), float(df.x.median())), (float(df.y.min()), float(df.y.max())))
    assert len(inside) == int((df.x <= df.x.median()).sum())


def test_utterance_pooling_and_save(ctc_result, tmp_path):
    pooled = utterance_table(ctc_result, 3)
    assert pooled.level == "utterance" and len(pooled) == len(ctc_result)
    np.testing.assert_allclose(pooled.vectors[2], ctc_result[2].hidden_states[3].mean(axis=0), rtol=1e-5)
    emb = project(pooled, method="pca", cache=False)
    path = emb.save(tmp_path / "pooled.csv")
    import pandas as pd

    back = pd.read_csv(path)
    assert list(back["utterance"]) == [a.id for a in ctc_result]
    assert path.with_suffix(".json").exists()
    fig = emb.plot(color_by="speaker")
    assert fig.axes[0].collections


def test_pretraining_frames_take_paired_ctc_labels(shared_registry, eval_corpus, ctc_result):
    from workbench.asr.engine import analyze

    pt = analyze(eval_corpus.subset(4), "rand-pt", registry=shared_registry, layers=[1])
    table = frame_table(pt, 1, labels=ctc_result)
    assert table.label_source == {"forced": 4}
    assert (table.labels["char"] != "").any()
    bare = frame_table(pt, 1)
    assert bare.label_source == {"none": 4} and (bare.labels["char"] == "").all()
