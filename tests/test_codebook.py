"""Codebook usage: the engine's codes are the quantizer's own choice; perplexities and NMI by hand."""
from __future__ import annotations

import math

import numpy as np
import pytest

from workbench.representations.codebook import (
    CodeCharacters,
    UsageStats,
    code_characters,
    code_usage,
    hard_perplexity,
    pair_ids,
    perplexity,
)
from workbench.errors import CapabilityError


@pytest.fixture(scope="module")
def small_corpus(eval_corpus):
    return eval_corpus.subset(4)


@pytest.fixture(scope="module")
def pt_result(shared_registry, small_corpus):
    from workbench.asr.engine import analyze

    return analyze(small_corpus, "rand-pt", registry=shared_registry, codes=True)


def test_codes_are_the_quantizers_own_choice(shared_registry, small_corpus):
    """Run HF's Wav2Vec2GumbelVectorQuantizer (eval mode) on the same extract_features and rebuild
    its codevectors from our indices; its eval-mode perplexity equals our hard perplexity sum."""
    import torch

    from workbench.asr.engine import _normalize, analyze

    corpus = small_corpus.subset(2)
    result = analyze(corpus, "rand-pt", registry=shared_registry, codes=True, batch_size=1, cache=False)
    model = shared_registry.get("rand-pt").model
    q = model.quantizer
    assert not q.training
    for utt, a in zip(corpus, result):
        audio = _normalize(utt.load(16_000), True)
        with torch.inference_mode():
            feats = model.wav2vec2(torch.from_numpy(audio)[None])[1]
            codevectors, model_ppl = q(feats)
        table = q.codevectors[0].detach()  # [G*V, d/G]
        g, v = q.num_groups, q.num_vars
        codes = torch.from_numpy(np.asarray(a.codes, dtype=np.int64))
        assert codes.shape == (feats.shape[1], g)
        rebuilt = torch.cat([table[i * v + codes[:, i]] for i in range(g)], dim=-1)
        assert torch.equal(rebuilt, codevectors[0])
        usage = code_usage([a])
        assert usage.model_perplexity == pytest.approx(float(model_ppl), rel=1e-5)


def test_hard_perplexity_by_hand():
    codes = np.array([[0, 3], [0, 3], [0, 3], [1, 3]])
    ppl = hard_perplexity(codes, 4)
    assert ppl[0] == pytest.approx(math.exp(-(0.75 * math.log(0.75) + 0.25 * math.log(0.25))))
    assert ppl[1] == pytest.approx(1.0)
    stats = UsageStats.from_arrays(codes, None, 4)
    assert list(stats.codes_used) == [2, 1]
    assert stats.distinct_pairs == 2 and stats.possible_pairs == 16
    assert stats.pair_perplexity == pytest.approx(ppl[0])  # pairs (0,3),(1,3) carry group 0's distribution
    assert list(pair_ids(codes, 4)) == [3, 3, 3, 7]
    uniform = np.repeat(np.arange(8), 5).reshape(-1, 1)
    assert hard_perplexity(uniform, 8)[0] == pytest.approx(8.0)


def test_soft_perplexity_by_hand():
    logits = np.zeros((10, 2, 5), dtype=np.float32)  # softmax uniform over 5 codes
    logits[:, 1, 2] = 50.0  # group 1: all mass on code 2
    stats = UsageStats.from_arrays(logits.argmax(-1), logits, 5)
    assert stats.soft_perplexity == pytest.approx([5.0, 1.0], rel=1e-6)
    assert stats.hard_perplexity == pytest.approx([1.0, 1.0])  # argmax of equal logits is code 0 every frame
    # a two-code mixture: exp(H([0.5, 0.5])) = 2
    assert perplexity(np.array([0.5, 0.5, 0.0])) == pytest.approx(2.0)


def test_usage_per_speaker_adds_up(pt_result):
    usage = code_usage(pt_result, by="speaker")
    assert usage.num_groups == 2 and usage.num_vars == 320
    total = sum(a.num_frames for a in pt_result)
    assert usage.total.frames == total
    assert sum(p.frames for p in usage.parts.values()) == total
    np.testing.assert_array_equal(sum(p.counts for p in usage.parts.values()), usage.total.counts)
    assert set(usage.parts) == {a.speaker for a in pt_result}
    df = usage.to_frame()
    assert list(df["group"]) == ["0", "1", "sum"]
    assert df.loc[2, "hard_perplexity"] == pytest.approx(df.loc[0, "hard_perplexity"] + df.loc[1, "hard_perplexity"])
    assert (df["soft_perplexity"] >= df["hard_perplexity"] - 1e-9).all()  # random logits are far from one-hot
    codes = np.concatenate([a.codes for a in pt_result])
    assert df.loc[0, "codes_used"] == np.unique(codes[:, 0]).size
    assert df.loc[2, "distinct_pairs"] == np.unique(pair_ids(codes, 320)).size
    cmp = usage.compare_frame()
    assert set(cmp["speaker"]) == set(usage.parts)
    assert cmp["js_distance"].dropna().between(0, 1).all()


def test_compare_corpora(pt_result):
    items = list(pt_result)
    usage = code_usage({"first": items[:2], "rest": items[2:]})
    assert usage.by == "corpus" and list(usage.parts) == ["first", "rest"]
    assert usage.parts["first"].frames == sum(a.num_frames for a in items[:2])


def test_ctc_checkpoint_gets_a_clear_error(shared_registry, small_corpus):
    from workbench.asr.engine import analyze

    with pytest.raises(CapabilityError, match="wav2vec2-base"):
        analyze(small_corpus.subset(1), "rand-ctc", registry=shared_registry, codes=True)
    ctc = analyze(small_corpus.subset(1), "rand-ctc", registry=shared_registry)
    with pytest.raises(CapabilityError, match="CTC-only.*w2v2-tiny"):
        code_usage(ctc)


def test_nmi_constructed_cases():
    rng = np.random.default_rng(0)
    codes = rng.integers(0, 10, size=(20_000, 2))
    letters = np.array(list("ABCDEFGHIJ"), dtype=object)
    dependent = CodeCharacters.from_arrays(codes, letters[codes[:, 0]], 10)
    assert dependent.nmi(0) == pytest.approx(1.0)
    assert dependent.nmi(1) < 0.01  # group 1 is independent of the chars
    independent = CodeCharacters.from_arrays(codes, letters[rng.integers(0, 5, size=20_000)], 10)
    assert independent.nmi(0) < 0.01 and independent.nmi("pair") < 0.05


def test_contingency_and_purest_codes_by_hand():
    codes = np.array([1, 1, 1, 2, 2, 3]).reshape(-1, 1)
    chars = ["A", "A", "B", "B", "B", ""]
    cc = CodeCharacters.from_arrays(codes, chars, 4)
    table = cc.contingency(0)
    assert list(table.columns) == ["∅", "B", "A"]  # blank first, then by frequency
    assert table.loc[1, "A"] == 2 and table.loc[1, "B"] == 1 and table.loc[2, "B"] == 2 and table.loc[3, "∅"] == 1
    assert int(table.to_numpy().sum()) == 6
    best = cc.purest(0, k=1, min_frames=1).set_index("char")
    assert best.loc["A", "code"] == 1 and best.loc["A", "purity"] == pytest.approx(2 / 3)
    assert best.loc["A", "coverage"] == pytest.approx(1.0)
    assert best.loc["B", "code"] == 2 and best.loc["B", "coverage"] == pytest.approx(2 / 3)
    assert best.loc["∅", "code"] == 3 and best.loc["∅", "purity"] == 1.0


def test_codes_vs_characters_on_models(shared_registry, small_corpus, pt_result, tmp_path):
    from workbench.asr.engine import analyze
    from workbench.representations.framelabels import frame_labels_for

    ctc = analyze(small_corpus, "rand-ctc", registry=shared_registry)
    cc = code_characters(pt_result, ctc)
    frames = sum(min(a.num_frames, c.num_frames) for a, c in zip(pt_result, ctc))
    assert len(cc.chars) == frames
    assert sum(cc.label_sources.values()) == len(small_corpus)
    first = frame_labels_for(ctc[0])
    np.testing.assert_array_equal(cc.chars[: len(first)], first.chars[: pt_result[0].num_frames])
    assert int(cc.contingency("pair").to_numpy().sum()) == frames
    nmi = cc.to_frame().set_index("group")["nmi"]
    assert nmi.between(0, 1).all()
    fig = cc.plot(group=0, top=20)
    assert fig.axes and fig.axes[0].images
    saved = cc.save(tmp_path / "cc.json")
    assert "nmi" in saved.read_text()
