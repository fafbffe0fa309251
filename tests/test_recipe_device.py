"""The accelerator path of the broad recipe (run on the CPU here): compact Opus data, online
splicing, the device trainer with forked batch workers, function-preserving deepening, the
time-budget schedule and the auxiliary-loss ramp.

Fast: a broad-style folder is made from six committed ``datasets/kokoro-dev`` clips (their word
spans, one phone span per word), and the models are one-layer toys.
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

DEV = Path(__file__).resolve().parents[1] / "datasets" / "kokoro-dev"


@pytest.fixture(scope="module")
def broad_folder(tmp_path_factory) -> Path:
    """``<root>/kokoro``: six dev clips as Kokoro rows (words, one phone per word, FLAC copies)."""
    root = tmp_path_factory.mktemp("broad-like")
    (root / "kokoro" / "audio").mkdir(parents=True)
    rows = [json.loads(line) for line in (DEV / "manifest.jsonl").read_text().splitlines()[:6]]
    with open(root / "kokoro" / "manifest.jsonl", "w") as fh:
        for r in rows:
            audio, sr = sf.read(str(DEV / r["audio_filepath"]), dtype="float32")
            sf.write(str(root / "kokoro" / r["audio_filepath"]), audio, sr, format="FLAC")
            r["phones"] = [["ə", w["start"], w["end"]] for w in r["words"]]
            fh.write(json.dumps(r) + "\n")
    return root


def _tiny_arch() -> dict:
    return {"hidden_size": 64, "num_hidden_layers": 1, "num_attention_heads": 2, "intermediate_size": 128,
            "conv_dim": [32] * 7, "num_conv_pos_embedding_groups": 4, "num_conv_pos_embeddings": 16,
            "mask_time_prob": 0.0}


# ---------------------------------------------------------------- compact Opus copies
def test_compact_keeps_rows_within_the_budget_and_the_audio_close(broad_folder, tmp_path):
    from workbench.recipe.compact import compact

    out = compact(broad_folder, tmp_path / "c", budget_mb={"kokoro": 0.03})
    kept = [json.loads(line) for line in (tmp_path / "c" / "kokoro" / "manifest.jsonl").read_text().splitlines()]
    files = sorted((tmp_path / "c" / "kokoro" / "audio").iterdir())
    assert 0 < out["kokoro"]["rows"] == len(kept) == len(files) < 6  # the budget cut it short, nothing extra left
    assert sum(f.stat().st_size for f in files) <= 0.03e6 and out["kokoro"]["mb"] <= 0.03
    first = kept[0]
    orig, _ = sf.read(str(broad_folder / "kokoro" / "audio" / "dev-00000.flac"), dtype="float32")
    back, sr = sf.read(str(tmp_path / "c" / "kokoro" / first["audio_filepath"]), dtype="float32")
    assert sr == 16_000 and len(back) == len(orig) and np.corrcoef(orig, back)[0, 1] > 0.95
    assert first["words"] and first["phones"] and first["audio_filepath"].endswith(".opus")
    again = compact(broad_folder, tmp_path / "c", budget_mb={"kokoro": 0.03})
    assert again == out
    with pytest.raises(FileNotFoundError, match="make the data first"):
        compact(broad_folder, tmp_path / "c", budget_mb={"espeak": 1})


# ---------------------------------------------------------------- online splicing
def test_splice_store_makes_fresh_sequences_with_their_spans(broad_folder):
    from workbench.recipe.broad_train import BroadConfig
    from workbench.recipe.device_train import SpliceStore
    from workbench.recipe.train import _text_to_labels

    store = SpliceStore(broad_folder, sources=("kokoro", "splice"))
    cfg = BroadConfig(batch_size=4, max_batch_seconds=60, weights={"splice": 1.0})
    assert store.available(cfg) == ["splice"] and not store.rows["splice"]
    words = {w["word"].strip(".,?!").lower() for r in store.rows["kokoro"] for w in r["words"]}
    batch = store.batch(np.random.default_rng(1), cfg)
    assert 1 <= len(batch) <= 4
    for row in batch:
        text_words = [w["word"].lower() for w in row["words"]]
        assert set(text_words) <= words and 5 <= len(text_words) <= 14
        assert row["labels"] == _text_to_labels(" ".join(text_words))
        seconds = len(row["array"]) / 16_000
        assert all(0 <= s < e <= seconds for _, s, e in row["phones"]) and len(row["phones"]) == len(text_words)
        assert abs(float(row["array"].mean())) < 1e-3 and abs(float(row["array"].std()) - 1) < 1e-2
    same = store.batch(np.random.default_rng(1), cfg)
    other = store.batch(np.random.default_rng(2), cfg)
    assert [r["labels"] for r in same] == [r["labels"] for r in batch]
    assert [r["labels"] for r in other] != [r["labels"] for r in batch]


# ---------------------------------------------------------------- the device trainer (CPU here)
def test_device_trainer_workers_give_the_in_process_batches_and_export_plain_ctc(broad_folder, tmp_path):
    import torch
    from transformers import Wav2Vec2ForCTC

    from workbench.recipe import device_train as dt
    from workbench.recipe.build import new_model, save_model

    donor = save_model(new_model("ctc", seed=3, **_tiny_arch()), tmp_path / "donor", kind="ctc")
    cfg = dt.DeviceConfig(steps=4, lr=1e-3, warmup=1, batch_size=3, max_batch_seconds=30, log_every=1,
                          eval_every=1000, save_every=4, device="cpu", bf16=False, workers=2, threads=1,
                          weights={"kokoro": 0.5, "splice": 0.5}, arch=_tiny_arch(), encoder_from=str(donor))
    trainer = dt.DeviceTrainer(broad_folder, tmp_path / "run", cfg, held_out={})
    donor_model = Wav2Vec2ForCTC.from_pretrained(str(donor))
    for a, b in zip(trainer.model.wav2vec2.feature_extractor.parameters(),
                    donor_model.wav2vec2.feature_extractor.parameters()):
        assert torch.equal(a, b)
    dt._TRAINER = trainer
    here = [dt._collate_step(s) for s in range(3)]
    pooled = trainer.batches()
    for want in here:
        got = next(pooled)
        assert torch.equal(got.x, want.x) and got.labels == want.labels and torch.equal(got.targets, want.targets)
    pooled.close()
    assert trainer.run() and trainer.step == 4
    assert [e["step"] for e in trainer.log if "loss" in e] == [1, 2, 3, 4]
    folder = trainer.export(tmp_path / "export")
    model = Wav2Vec2ForCTC.from_pretrained(str(folder))
    assert model.config.hidden_size == 64 and not any("aux" in k for k in model.state_dict())


def test_an_encoder_that_does_not_fit_the_arch_is_a_clear_error(broad_folder, tmp_path):
    from workbench.recipe import device_train as dt
    from workbench.recipe.build import new_model, save_model

    donor = save_model(new_model("ctc", **{**_tiny_arch(), "conv_dim": [16] * 7}), tmp_path / "d", kind="ctc")
    cfg = dt.DeviceConfig(steps=1, device="cpu", bf16=False, arch=_tiny_arch(), encoder_from=str(donor))
    with pytest.raises(ValueError, match="same conv_dim"):
        dt.DeviceTrainer(broad_folder, tmp_path / "run", cfg, held_out={})


# ---------------------------------------------------------------- deepening, schedule, aux ramp
def test_deepen_keeps_the_function_and_its_new_layers_learn():
    import torch

    from workbench.recipe.build import deepen, new_model

    model = new_model("ctc", seed=1, **{**_tiny_arch(), "num_hidden_layers": 2}).eval()
    grown = deepen(model, (0, 1)).eval()
    assert grown.config.num_hidden_layers == 4 and len(grown.wav2vec2.encoder.layers) == 4
    x = torch.randn(2, 16_000)
    with torch.no_grad():
        assert torch.allclose(model(x).logits, grown(x).logits, atol=1e-4)
    new = grown.wav2vec2.encoder.layers[1]
    assert float(new.attention.out_proj.weight.detach().abs().sum()) == 0.0
    grown.train()
    grown(x).logits.square().mean().backward()
    assert float(new.attention.out_proj.weight.grad.abs().sum()) > 0
    assert float(new.feed_forward.output_dense.weight.grad.abs().sum()) > 0
    with pytest.raises(ValueError, match="distinct layer indices"):
        deepen(model, (2,))


def test_time_budget_decays_the_rate_over_the_minutes():
    from workbench.recipe.broad_train import BroadConfig, _schedule

    cfg = BroadConfig(steps=1_000_000, warmup=10, max_minutes=20.0, time_budget=True)
    assert _schedule(5, cfg, 0.0) == pytest.approx(0.6)  # warm-up as before
    assert _schedule(100, cfg, 10.0) == pytest.approx(0.05 + 0.95 * 0.5)  # half the time: half the cosine
    assert _schedule(100, cfg, 20.0) == pytest.approx(0.05)
    assert _schedule(100, BroadConfig(steps=1_000_000, warmup=10, max_minutes=20.0), 20.0) > 0.99  # a pause only


def test_aux_ramp_scales_the_phoneme_loss_from_zero():
    import torch

    from workbench.recipe.broad_train import BroadConfig, BroadTrainer

    trainer = BroadTrainer.__new__(BroadTrainer)
    trainer.cfg = BroadConfig(aux_weight=0.5, aux_ramp=10, silence_weight=0.0)
    ctc, aux = torch.tensor(2.0), torch.tensor(4.0)
    for step, want in ((0, 2.0), (5, 2.0 + 0.5 * 0.5 * 4.0), (10, 4.0), (50, 4.0)):
        trainer.step = step
        total, _ = trainer._total(ctc, aux, None, None)
        assert float(total) == pytest.approx(want)


def test_feature_store_caches_conv_features_per_encoder(broad_folder):
    from workbench.recipe.build import new_model
    from workbench.recipe.feature_train import FeatureStore, conv_features, encoder_key

    model = new_model("ctc", seed=0, **_tiny_arch()).eval()
    first = FeatureStore(broad_folder, model)
    cached = sorted(first.cache_dir.glob("*.npy"))
    assert first.cache_dir.parent == broad_folder / "features" and len(cached) == len(first.rows["kokoro"]) == 6
    again = FeatureStore(broad_folder, model)
    for a, b in zip(first.rows["kokoro"], again.rows["kokoro"]):
        assert a["feats"].dtype == np.float16 and np.array_equal(a["feats"], b["feats"])
    audio, _ = sf.read(str(broad_folder / "kokoro" / "audio" / "dev-00000.flac"), dtype="float32")
    from workbench.recipe.broad_train import _normalise

    assert np.array_equal(first.rows["kokoro"][0]["feats"], conv_features(model, _normalise(audio)))
    other = new_model("ctc", seed=1, **_tiny_arch())
    assert encoder_key(other) != encoder_key(model)
    assert not np.array_equal(FeatureStore(broad_folder, other).rows["kokoro"][0]["feats"], first.rows["kokoro"][0]["feats"])


def test_feature_splices_put_word_frames_in_order_between_silences():
    import random

    from workbench.recipe.feature_train import splice_features
    from workbench.recipe.train import _text_to_labels

    pieces = [{"word": w, "feats": np.full((n, 4), k + 1, dtype=np.float16), "targets": np.full(n, k + 1, np.int8)}
              for k, (w, n) in enumerate((("cat", 7), ("sat", 5), ("down", 9)))]
    silence = np.zeros((12, 4), dtype=np.float16)
    row = splice_features(pieces, silence, random.Random(3))
    assert row["text"] == "Cat sat down." and row["labels"] == _text_to_labels("Cat sat down.")
    assert row["frames"] == len(row["feats"]) == len(row["targets"])
    value = row["feats"][:, 0].astype(int)
    np.testing.assert_array_equal(value, row["targets"])  # each frame's target came with it
    spoken = [int(v) for k, v in enumerate(value) if v and (k == 0 or value[k - 1] != v)]
    assert spoken == [1, 2, 3]  # the words in order, each once and whole
    assert [(value == k + 1).sum() for k in range(3)] == [7, 5, 9]
    lead, tail = int(np.argmax(value > 0)), int(np.argmax(value[::-1] > 0))
    assert 5 <= lead <= 20 and 5 <= tail <= 20
    assert row["frames"] - lead - tail - 21 <= 2 * 6  # gaps of 0-6 frames between the words
    assert splice_features(pieces, silence, random.Random(3))["frames"] == row["frames"]  # seeded


def test_feature_splice_store_draws_new_sequences_of_kokoro_words(broad_folder):
    from workbench.recipe.broad_train import BroadConfig
    from workbench.recipe.build import new_model
    from workbench.recipe.feature_train import FeatureSpliceStore, feature_pieces
    from workbench.recipe.train import _text_to_labels

    model = new_model("ctc", seed=0, **_tiny_arch()).eval()
    store = FeatureSpliceStore(broad_folder, model)
    kokoro = store.rows["kokoro"]
    for r in kokoro:  # every word becomes a piece whose inner frames are all speech
        pieces, lead = feature_pieces(r)
        assert len(pieces) == len(r["words"]) and lead is not None
        assert all((p["targets"][1:-1] > 0).all() for p in pieces)
    words = {"".join(c for c in w["word"] if c.isalpha() or c == "'") for r in kokoro for w in r["words"]}
    cfg = BroadConfig(batch_size=4, max_batch_seconds=120, weights={"online": 1.0})
    assert store.available(cfg) == ["online"]
    assert store.available(BroadConfig(weights={"kokoro": 1.0})) == ["kokoro"]  # off unless weighted
    batch = store.batch(np.random.default_rng([0, 7]), cfg)
    again = store.batch(np.random.default_rng([0, 7]), cfg)
    assert [r["text"] for r in batch] == [r["text"] for r in again] and len(batch) == 4
    known = {json.loads(line)["text"] for line in (broad_folder / "kokoro" / "manifest.jsonl").read_text().splitlines()}
    for r in batch:
        assert r["text"] not in known and set(r["text"].rstrip(".").lower().split()) <= {w.lower() for w in words}
        assert r["labels"] == _text_to_labels(r["text"]) and r["feats"].shape == (r["frames"], 32)
