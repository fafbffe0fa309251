"""The analysis engine: batching, chunking, streaming, caching, error rows, codes, progress.

Random-weight tiny models ('rand-ctc', 'rand-pt' from conftest) check the arithmetic on real
code paths; transcript agreement is checked on the trained demo checkpoint (its argmax is
stable, a random model's is not) when it exists.
"""
from __future__ import annotations

import numpy as np
import pytest
from conftest import requires_trained
from hypothesis import given, settings
from hypothesis import strategies as st

from workbench.data.corpus import Corpus, Utterance
from workbench.asr.engine import (
    AnalysisResult,
    UtteranceAnalysis,
    analyze,
    chunk_plan,
    store_for,
    stream_transcribe,
    transcribe,
)
from workbench.errors import CapabilityError

SR = 16_000


def cer(ref: str, hyp: str) -> float:
    import jiwer

    return jiwer.cer(ref, hyp) if ref else float(bool(hyp))


@pytest.fixture(scope="module")
def clips(eval_corpus) -> dict[str, np.ndarray]:
    """Five real utterances cut to 1.5 .. 2.7 s (unequal lengths, small work)."""
    return {u.id: u.load(SR)[: int((1.5 + 0.3 * i) * SR)] for i, u in enumerate(eval_corpus.subset(5))}


@pytest.fixture(scope="module")
def long_audio(eval_corpus) -> np.ndarray:
    """8 s of speech: two utterances back to back."""
    return np.concatenate([u.load(SR) for u in eval_corpus.subset(2)])[: 8 * SR]


# --------------------------------------------------------------------------- batching
def test_equal_length_batch_equals_one_by_one(shared_registry, clips):
    # equal lengths: no padding, so a batch must reproduce the one-by-one log-probs
    n = min(len(a) for a in clips.values())
    corpus = Corpus.from_arrays({k: a[:n] for k, a in list(clips.items())[:4]})
    batched = analyze(corpus, "rand-ctc", registry=shared_registry, cache=False, batch_size=4)
    single = analyze(corpus, "rand-ctc", registry=shared_registry, cache=False, batch_size=1)
    assert [a.id for a in batched] == list(corpus.ids())
    for a, b in zip(batched, single):
        assert a.log_probs.shape == b.log_probs.shape == (shared_registry.get("rand-ctc").num_frames(n), 32)
        np.testing.assert_allclose(a.log_probs, b.log_probs, atol=2e-4)


def test_padding_changes_only_padded_clips_and_boundedly(shared_registry, clips):
    # the documented group-norm rule: zero padding, no attention mask.  The widest clip of a
    # batch is unpadded and identical; padded ones move a little (bound documented in engine)
    corpus = Corpus.from_arrays(clips)
    batched = analyze(corpus, "rand-ctc", registry=shared_registry, cache=False, batch_size=len(clips))
    single = analyze(corpus, "rand-ctc", registry=shared_registry, cache=False, batch_size=1)
    widest = max(clips, key=lambda k: len(clips[k]))
    diffs = {a.id: float(np.abs(a.log_probs - b.log_probs).max()) for a, b in zip(batched, single)}
    assert diffs[widest] < 2e-4
    assert max(diffs.values()) < 0.5
    assert max(diffs.values()) > 1e-3  # padding does change the statistics: the rule is not exact
    probs = {a.id: float(np.abs(np.exp(a.log_probs) - np.exp(b.log_probs)).max()) for a, b in zip(batched, single)}
    assert max(probs.values()) < 0.05


@requires_trained
def test_batched_and_one_by_one_transcripts_agree_trained(eval_corpus):
    from workbench.models.registry import ModelRegistry

    reg = ModelRegistry()
    corpus = eval_corpus.subset(16)
    single = analyze(corpus, "w2v2-tiny-ctc", registry=reg, cache=False, batch_size=1)

    def gap(**kw) -> float:
        batched = analyze(corpus, "w2v2-tiny-ctc", registry=reg, cache=False, batch_size=8, **kw)
        assert [a.id for a in batched] == [a.id for a in single]  # corpus order, whatever the batches
        return float(np.mean([cer(b.transcript, a.transcript) for a, b in zip(batched, single)]))

    limited, unlimited = gap(max_padding=0.1), gap()
    # The demo checkpoint is weak (many near ties), so zero padding without a mask moves some
    # characters: measured 7.6% mean CER with a 10% padding limit, 13.6% unlimited (engine
    # docstring).  The limit must help, and both must stay near their measurements.
    assert limited < unlimited < 0.2
    assert limited < 0.12, limited


# --------------------------------------------------------------------------- chunking
@settings(max_examples=200, deadline=None)
@given(n=st.integers(400, 200_000), chunk_f=st.integers(8, 200), stride_f=st.integers(2, 40))
def test_chunk_plan_tiles_every_frame_once(n, chunk_f, stride_f):
    from workbench.recipe.build import tiny_config

    cfg = tiny_config()
    align = 320

    def frames(m: int) -> int:
        for k, s in zip(cfg.conv_kernel, cfg.conv_stride):
            m = (m - k) // s + 1
        return max(m, 0)

    chunk, stride = chunk_f * align, stride_f * align
    if chunk - 2 * stride < align:
        with pytest.raises(ValueError):
            chunk_plan(n, chunk=chunk, stride_left=stride, stride_right=stride, align=align)
        return
    plan = chunk_plan(n, chunk=chunk, stride_left=stride, stride_right=stride, align=align)
    assert plan[0][0] == 0 and plan[0][2] == 0 and plan[-1][1] == n and plan[-1][3] == n
    kept = 0
    for (start, end, keep_from, keep_to), nxt in zip(plan, plan[1:] + [None]):
        assert start % align == 0 and start <= keep_from < keep_to <= end <= start + chunk
        if nxt is not None:
            assert nxt[2] == keep_to  # next kept region starts where this one ended
            assert end - keep_to == stride and nxt[2] - nxt[0] == stride  # context on both sides
            kept += (keep_to - keep_from) // align
        else:
            kept += frames(end - start) - (keep_from - start) // align
    assert kept == frames(n)


def test_chunked_covers_every_frame_and_stitches_windows(shared_registry, long_audio):
    reg = shared_registry
    opts = dict(max_unchunked_s=3.0, chunk_length_s=3.0, stride_length_s=0.5)
    ch = analyze(long_audio, "rand-ctc", registry=reg, cache=False, layers=[2], **opts)[0]
    whole = analyze(long_audio, "rand-ctc", registry=reg, cache=False)[0]
    assert ch.chunked and not whole.chunked
    bundle = reg.get("rand-ctc")
    assert ch.log_probs.shape == whole.log_probs.shape == (bundle.num_frames(len(long_audio)), 32)
    assert ch.hidden_states[2].shape[0] == ch.log_probs.shape[0]
    # every kept frame is exactly what its window gives when run alone (the stitching indexes right)
    plan = chunk_plan(len(long_audio), chunk=3 * SR, stride_left=SR // 2, stride_right=SR // 2, align=320)
    assert len(plan) >= 3
    for start, end, keep_from, keep_to in plan[:3]:
        window = analyze(long_audio[start:end], "rand-ctc", registry=reg, cache=False)[0]
        f0, f1 = (keep_from - start) // 320, (keep_to - start) // 320
        np.testing.assert_allclose(ch.log_probs[keep_from // 320: keep_to // 320], window.log_probs[f0:f1],
                                   atol=2e-4)
    # and away from the model's view of the borders, chunked and whole probabilities stay close
    assert np.abs(np.exp(ch.log_probs) - np.exp(whole.log_probs)).max() < 0.05


@requires_trained
def test_chunked_transcript_matches_unchunked_trained(eval_corpus):
    from workbench.models.registry import ModelRegistry

    reg = ModelRegistry()
    audio = np.concatenate([u.load(SR) for u in eval_corpus.subset(8)])  # about 30 s
    whole = analyze(audio, "w2v2-tiny-ctc", registry=reg, cache=False, max_unchunked_s=120)[0]
    ch = analyze(audio, "w2v2-tiny-ctc", registry=reg, cache=False, max_unchunked_s=5, chunk_length_s=20,
                 stride_length_s=4)[0]
    assert ch.chunked and ch.num_frames == whole.num_frames
    # The demo checkpoint never heard 30 s at once (its clips are 2-12 s), so chunks and the whole
    # differ more than for base-960h: measured 16% CER between them.  Chunking must not cost accuracy.
    reference = " ".join(u.text for u in eval_corpus.subset(8))
    from workbench.scoring.normalize import default_normalizer

    ref = default_normalizer()(reference)
    assert cer(whole.transcript, ch.transcript) < 0.25
    assert cer(ref, ch.transcript) <= cer(ref, whole.transcript) + 0.05


def test_bad_chunk_sizes_are_refused(shared_registry, long_audio):
    with pytest.raises(ValueError, match="stride_length_s"):
        analyze(long_audio, "rand-ctc", registry=shared_registry, cache=False, max_unchunked_s=3,
                chunk_length_s=5, stride_length_s=0.01)
    with pytest.raises(ValueError, match="chunk_length_s"):
        analyze(long_audio, "rand-ctc", registry=shared_registry, cache=False, max_unchunked_s=3,
                chunk_length_s=4, stride_length_s=2)
    with pytest.raises(ValueError, match="stride_length_s"):
        list(stream_transcribe(long_audio, "rand-ctc", registry=shared_registry, stride_length_s=0))


# --------------------------------------------------------------------------- streaming
def test_stream_grows_to_the_chunked_transcript(shared_registry, long_audio):
    reg = shared_registry
    parts = list(stream_transcribe(long_audio, "rand-ctc", registry=reg, chunk_length_s=3, stride_length_s=0.5))
    ch = analyze(long_audio, "rand-ctc", registry=reg, cache=False, max_unchunked_s=2, chunk_length_s=3,
                 stride_length_s=0.5)[0]
    assert len(parts) >= 3
    assert [p.final for p in parts] == [False] * (len(parts) - 1) + [True]
    for prev, nxt in zip(parts, parts[1:]):
        assert nxt.seconds > prev.seconds and nxt.frames > prev.frames
        assert nxt.text.startswith(prev.text)
    assert parts[-1].seconds == pytest.approx(len(long_audio) / SR)
    assert parts[-1].frames == ch.num_frames
    assert parts[-1].text == ch.transcript
    np.testing.assert_allclose(np.concatenate([p.log_probs for p in parts]), ch.log_probs, atol=2e-4)


def test_stream_from_blocks_equals_stream_from_array(shared_registry, long_audio):
    rng = np.random.default_rng(0)
    cuts = np.sort(rng.integers(0, len(long_audio), size=9))
    blocks = (b for b in np.split(long_audio, cuts))  # a generator of uneven blocks, some empty
    from_blocks = list(stream_transcribe(blocks, "rand-ctc", registry=shared_registry, sample_rate=SR,
                                         chunk_length_s=3, stride_length_s=0.5))
    from_array = list(stream_transcribe(long_audio, "rand-ctc", registry=shared_registry,
                                        chunk_length_s=3, stride_length_s=0.5))
    assert [(p.text, p.frames) for p in from_blocks] == [(p.text, p.frames) for p in from_array]


def test_stream_resamples_blocks(shared_registry, long_audio):
    from scipy.signal import resample_poly

    audio8k = resample_poly(long_audio[: 4 * SR], 1, 2).astype(np.float32)
    parts = list(stream_transcribe(iter(np.array_split(audio8k, 7)), "rand-ctc", registry=shared_registry,
                                   sample_rate=8000, chunk_length_s=3, stride_length_s=0.5))
    frames = shared_registry.get("rand-ctc").num_frames(len(audio8k) * 2)
    assert abs(parts[-1].frames - frames) <= 1 and parts[-1].final


# --------------------------------------------------------------------------- caching
@pytest.fixture
def fresh_cache(tmp_path, monkeypatch):
    """An empty WORKBENCH_CACHE for this test only."""
    monkeypatch.setenv("WORKBENCH_CACHE", str(tmp_path / "cache"))
    return tmp_path / "cache"


def test_cache_hits_do_not_rerun_the_model(registry, clips, fresh_cache):
    corpus = Corpus.from_arrays(dict(list(clips.items())[:3]))
    store = store_for(registry)
    first = analyze(corpus, "rand-ctc", registry=registry)  # exact: one clip per pass (no attention mask)
    assert store.forward_calls == 3 and store.utterances_computed == 3
    again = analyze(corpus, "rand-ctc", registry=registry)
    assert store.forward_calls == 3
    assert again.transcripts() == first.transcripts()

    # a fresh registry (a new session) with the same WORKBENCH_CACHE reads the disk cache
    from workbench.models.registry import ModelRegistry

    fresh = ModelRegistry()
    fresh.register("rand-ctc", registry.spec("rand-ctc").location)
    from_disk = analyze(corpus, "rand-ctc", registry=fresh)
    assert store_for(fresh).forward_calls == 0
    for a, b in zip(first, from_disk):
        np.testing.assert_array_equal(a.log_probs, b.log_probs)

    # asking for layers later recomputes once, with the union; then both requests hit
    more = analyze(corpus, "rand-ctc", registry=fresh, layers=[1, 3])
    assert store_for(fresh).forward_calls == 3
    assert sorted(more[0].hidden_states) == [1, 3]
    analyze(corpus, "rand-ctc", registry=fresh, layers=[3])
    analyze(corpus, "rand-ctc", registry=fresh)
    assert store_for(fresh).forward_calls == 3
    # ... and the union survives on disk for the next session too
    third = ModelRegistry()
    third.register("rand-ctc", registry.spec("rand-ctc").location)
    analyze(corpus, "rand-ctc", registry=third, layers=[1])
    assert store_for(third).forward_calls == 0


def test_same_audio_under_another_id_is_a_hit_with_its_own_labels(registry, clips, fresh_cache):
    (uid, audio), = list(clips.items())[:1]
    analyze(Corpus.from_arrays({uid: audio}), "rand-ctc", registry=registry)
    calls = store_for(registry).forward_calls
    other = analyze(Corpus.from_arrays({"copy": audio}, texts={"copy": "HELLO"}), "rand-ctc", registry=registry)
    assert store_for(registry).forward_calls == calls
    assert other[0].id == "copy" and other[0].reference == "HELLO"


def test_cache_false_always_computes(registry, clips, fresh_cache):
    corpus = Corpus.from_arrays(dict(list(clips.items())[:2]))
    analyze(corpus, "rand-ctc", registry=registry)
    analyze(corpus, "rand-ctc", registry=registry, cache=False)
    assert store_for(registry).forward_calls == 4  # one pass per clip (exact), twice


# --------------------------------------------------------------------------- rows, layers, codes
def test_bad_rows_become_errors_and_the_rest_is_analysed(shared_registry, eval_corpus, tmp_path):
    empty = tmp_path / "empty.wav"
    empty.write_bytes(b"")
    good = list(eval_corpus.subset(2))
    corpus = Corpus([good[0], Utterance(id="missing", audio=str(tmp_path / "nope.flac")),
                     Utterance(id="empty", audio=str(empty)),
                     Utterance(id="tiny", array=np.zeros(100, np.float32), sample_rate=SR), good[1]])
    result = analyze(corpus, "rand-ctc", registry=shared_registry, cache=False)
    assert isinstance(result, AnalysisResult) and len(result) == 5
    assert [a.id for a in result] == ["eval-00000", "missing", "empty", "tiny", "eval-00001"]
    assert {a.id for a in result.errors} == {"missing", "empty", "tiny"}
    assert "no such file" in result["missing"].error and "empty" in result["empty"].error
    assert "shorter than one frame" in result["tiny"].error
    for a in result.ok:
        assert a.log_probs.shape[0] == a.num_frames > 0 and a.transcript == result.transcripts()[a.id]
    frame = result.to_frame()
    assert frame["error"].notna().sum() == 3 and frame.loc[frame.id == "eval-00000", "frames"].item() > 100
    import json

    saved = result.save(tmp_path / "rows.jsonl")
    rows = [json.loads(line) for line in saved.read_text().splitlines()]
    assert [r["id"] for r in rows] == [a.id for a in result] and rows[1]["transcript"] is None
    prov = json.loads((tmp_path / "rows.jsonl.provenance.json").read_text())
    assert prov["models"] == {"rand-ctc": result[0].revision}
    assert "3 error rows" in result._repr_html_()


def test_layers_all_and_negative(shared_registry, clips):
    audio = next(iter(clips.values()))
    a = analyze(audio, "rand-ctc", registry=shared_registry, cache=False, layers="all")[0]
    assert sorted(a.hidden_states) == [0, 1, 2, 3, 4]
    assert all(h.shape == (a.num_frames, 192) for h in a.hidden_states.values())
    b = analyze(audio, "rand-ctc", registry=shared_registry, cache=False, layers=-1)[0]
    np.testing.assert_allclose(b.layer(4), a.layer(4), atol=1e-5)
    with pytest.raises(CapabilityError, match="layers=\\[2\\]"):
        b.layer(2)
    with pytest.raises(ValueError, match="out of range"):
        analyze(audio, "rand-ctc", registry=shared_registry, layers=[7])


def test_pretraining_codes(shared_registry, clips):
    audio = next(iter(clips.values()))
    a = analyze(audio, "rand-pt", registry=shared_registry, cache=False, codes=True, layers=[0])[0]
    assert isinstance(a, UtteranceAnalysis) and a.log_probs is None and a.transcript == ""
    assert a.codes.shape == (a.num_frames, 2) and a.num_frames == shared_registry.get("rand-pt").num_frames(len(audio))
    assert a.codes.min() >= 0 and a.codes.max() < 320
    assert a.code_logits.shape == (a.num_frames, 2, 320)
    np.testing.assert_array_equal(a.code_logits.argmax(-1), a.codes)
    # the same indices as the model's own quantizer (eval mode: hard argmax over weight_proj)
    import torch

    bundle = shared_registry.get("rand-pt")
    x = torch.from_numpy(((audio - audio.mean()) / np.sqrt(audio.var() + 1e-7))[None].astype(np.float32))
    with torch.inference_mode():
        feats = bundle.model.wav2vec2(x)[1]
        ref = bundle.model.quantizer.weight_proj(feats).view(1, -1, 2, 320).argmax(-1)[0].numpy()
    np.testing.assert_array_equal(a.codes, ref)


def test_codes_on_a_ctc_model_is_a_capability_error(shared_registry, clips):
    with pytest.raises(CapabilityError, match="no quantizer"):
        analyze(next(iter(clips.values())), "rand-ctc", registry=shared_registry, codes=True)


def test_transcribe_and_inputs(shared_registry, eval_corpus, clips):
    paths = [u.audio for u in eval_corpus.subset(2)]
    by_path = transcribe(paths, "rand-ctc", registry=shared_registry)
    by_corpus = transcribe(eval_corpus.subset(2), "rand-ctc", registry=shared_registry)
    assert list(by_path) == ["eval-00000", "eval-00001"] and list(by_path.values()) == list(by_corpus.values())
    assert transcribe(paths[0], "rand-ctc", registry=shared_registry) == {"eval-00000": by_path["eval-00000"]}


# --------------------------------------------------------------------------- progress
def test_progress_switch(shared_registry, clips, capsys, monkeypatch):
    audio = next(iter(clips.values()))[:SR]
    analyze(audio, "rand-ctc", registry=shared_registry, cache=False, progress=True)
    assert "analyze rand-ctc" in capsys.readouterr().err
    analyze(audio, "rand-ctc", registry=shared_registry, cache=False, progress=False)
    assert capsys.readouterr().err == ""
    monkeypatch.setenv("WORKBENCH_PROGRESS", "0")
    analyze(audio, "rand-ctc", registry=shared_registry, cache=False)
    assert capsys.readouterr().err == ""
    monkeypatch.setenv("WORKBENCH_PROGRESS", "1")
    analyze(audio, "rand-ctc", registry=shared_registry, cache=False)
    assert "analyze rand-ctc" in capsys.readouterr().err
