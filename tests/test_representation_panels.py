"""Codebook and embedding panels driven without a browser: set widget values, click, assert."""
from __future__ import annotations

import numpy as np
import pytest

from workbench.asr.engine import store_for
from workbench.panels.session import Session


def png(image) -> bytes:
    """The picture an Image widget shows (ipywidgets hands out a memoryview)."""
    return bytes(image.value)


@pytest.fixture(scope="module")
def corpus(eval_corpus):
    return eval_corpus.subset(4)


def test_embedding_panel_layer_colour_selection(shared_registry, corpus):
    from workbench.panels.embedding import EmbeddingPanel

    session = Session(corpus=corpus, registry=shared_registry)
    panel = EmbeddingPanel(model="rand-ctc", registry=shared_registry, session=session, method="pca")
    panel.run_button.click()
    assert panel.status.value.count("error") == 0, panel.status.value
    assert panel.layer.max == 4 and panel.layer.value == 4 and not panel.layer.disabled
    first = png(panel.scatter)
    assert first.startswith(b"\x89PNG")
    calls = store_for(shared_registry).forward_calls
    emb4 = panel.embedding

    panel.layer.value = 1  # another layer: new projection and picture, no forward pass
    assert panel.embedding is not emb4 and panel.embedding.layer == 1
    assert png(panel.scatter) != first
    assert store_for(shared_registry).forward_calls == calls
    assert set(panel.embeddings) == {(4, "pca"), (1, "pca")}

    emb1, before = panel.embedding, png(panel.scatter)
    panel.color_by.value = "speaker"  # colour only: same projection, new picture
    assert panel.embedding is emb1 and png(panel.scatter) != before
    assert set(panel.label_filter.options) == {u.speaker for u in corpus}
    before = png(panel.scatter)
    panel.label_filter.value = (corpus[0].speaker,)
    assert png(panel.scatter) != before
    panel.layer.value = 4  # back: memoised projection
    assert panel.embedding is emb4
    assert store_for(shared_registry).forward_calls == calls

    # highlight the frames of a selected utterance, then of one word
    uid = corpus[1].id
    session.select(uid)
    assert panel.highlight.sum() == (panel.embedding.labels["utterance"] == uid).sum() > 0
    session.highlight_frames = {"utterance": uid, "start_frame": 10, "end_frame": 20}
    assert panel.highlight.sum() == 10

    # region selection: the whole map, then open one word in the session
    df = panel.embedding.to_frame()
    pts = panel.select_region((float(df.x.min()), float(df.x.max())), (float(df.y.min()), float(df.y.max())))
    assert len(pts) == len(df) == len(panel.selected_points)
    assert panel.open_choice.options and not panel.open_button.disabled
    label, (chosen, span) = next((lab, v) for lab, v in panel.open_choice.options if "between words" not in lab)
    panel.open_choice.value = (chosen, span)
    panel.open_button.click()
    assert session.selected_utterance == chosen and session.selected_span == span and span[1] > span[0]
    assert store_for(shared_registry).forward_calls == calls


def test_embedding_panel_probe_button(shared_registry, corpus):
    from workbench.panels.embedding import EmbeddingPanel

    panel = EmbeddingPanel(corpus, model="rand-ctc", registry=shared_registry, method="pca")
    panel.run_button.click()
    calls = store_for(shared_registry).forward_calls
    panel.probe_button.click()
    assert panel.probe is not None and panel.probe.layers == [0, 1, 2, 3, 4]
    assert panel.cka.matrix.shape == (5, 5)
    assert png(panel.probe_image).startswith(b"\x89PNG") and "accuracy" in panel.probe_table.value
    assert store_for(shared_registry).forward_calls == calls


def test_embedding_panel_pretraining_model_uses_paired_labels(shared_registry, corpus):
    from workbench.panels.embedding import EmbeddingPanel

    panel = EmbeddingPanel(corpus, model="rand-pt", registry=shared_registry, method="pca")
    panel.run_button.click()
    assert panel.embedding is not None and panel.embedding.model == "rand-pt"
    assert panel.tables[panel.layer.value].label_source == {"forced": len(corpus)}


def test_codebook_panel(shared_registry, corpus):
    from workbench.panels.codebook import CodebookPanel

    session = Session(corpus=corpus, registry=shared_registry)
    panel = CodebookPanel(model="rand-pt", registry=shared_registry, session=session)
    panel.run_button.click()
    usage = panel.result
    assert usage is panel.usage and usage.total.frames == sum(a.num_frames for a in panel.analyses)
    assert set(usage.parts) == {u.speaker for u in corpus}
    assert panel.code_chars is not None and "NMI" in panel.purest.value
    assert [v for _, v in panel.group.options] == [0, 1, "pair"]
    calls = store_for(shared_registry).forward_calls

    heat0, hist0 = png(panel.heatmap), png(panel.histogram)
    panel.group.value = 1
    assert png(panel.heatmap) != heat0 and png(panel.histogram) != hist0
    panel.group.value = "pair"
    assert png(panel.heatmap).startswith(b"\x89PNG")
    panel.compare.value = "utterance"
    assert set(panel.usage.parts) == set(corpus.ids())
    assert panel.comparison.value.count("<tr>") > len(corpus)
    before = png(panel.histogram)
    panel.order.value = "rank"
    assert png(panel.histogram) != before
    session.select(corpus[2].id)
    assert png(panel.sequence).startswith(b"\x89PNG") and corpus[2].id in panel.sequence_label.value
    assert store_for(shared_registry).forward_calls == calls


def test_codebook_panel_on_ctc_model_says_what_to_load(shared_registry, corpus):
    from workbench.panels.codebook import CodebookPanel

    panel = CodebookPanel(corpus, model="rand-ctc", registry=shared_registry)
    panel.run_button.click()
    assert panel.usage is None
    assert "no quantizer" in panel.status.value and "wav2vec2-base" in panel.status.value


def test_codebook_panel_compares_corpora(shared_registry, corpus):
    from workbench.panels.codebook import CodebookPanel

    panel = CodebookPanel({"a": corpus.subset(2), "b": corpus.subset([u.id for u in corpus][2:])},
                          model="rand-pt", registry=shared_registry)
    assert panel.compare.value == "corpus"
    panel.run_button.click()
    assert list(panel.usage.parts) == ["a", "b"]
    assert np.array_equal(panel.usage.parts["a"].counts + panel.usage.parts["b"].counts, panel.usage.total.counts)
