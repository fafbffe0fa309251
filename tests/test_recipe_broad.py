"""The broad recipe: vocabulary, frame targets, splicing, the data stage and the auxiliary loss.

Fast (well under a minute): the data stage runs on 2 Kokoro utterances; the training test
overfits one tiny batch.  Tests that synthesize skip when the Kokoro assets are absent.
"""
from __future__ import annotations

import json
import os
import random
import shutil

import numpy as np
import pytest

from workbench.recipe import frames
from workbench.recipe.vocabulary import WordSampler, misaki_lexicon, word_list, word_types

pytest.importorskip("wordfreq", reason="the broad recipe needs wordfreq (pip install wordfreq==3.1.1)")

needs_assets = pytest.mark.skipif(not os.environ.get("WORKBENCH_ASSET_PATH"),
                                  reason="Kokoro assets absent: set WORKBENCH_ASSET_PATH (see .ci/run)")
needs_espeak = pytest.mark.skipif(shutil.which("espeak-ng") is None,
                                  reason="espeak-ng not installed: apt-get install -y espeak-ng")


# ---------------------------------------------------------------- vocabulary
def test_vocabulary_is_broad_and_pronounceable():
    words = word_list()
    assert len(words) == 12_000 and len(set(words)) == 12_000
    assert words[:5] == ("the", "to", "and", "of", "a")  # wordfreq's order
    lexicon = misaki_lexicon()
    assert len(lexicon) > 150_000
    assert all(w in lexicon and w.replace("'", "").isalpha() for w in words)


def test_word_sampler_is_seeded_and_sweeps_every_type():
    words = word_list(6000)
    a, b = WordSampler(words, seed=3), WordSampler(words, seed=3)
    seqs = [a.sequence(10) for _ in range(1500)]
    assert seqs == [b.sequence(10) for _ in range(1500)]
    assert seqs[0] != WordSampler(words, seed=4).sequence(10)
    # half the words come from a shuffled sweep: 7,500 swept words cover the 6,000 types
    assert len(word_types(seqs)) >= 5000
    assert all(s[0].isupper() and s.endswith(".") for s in seqs)


# ---------------------------------------------------------------- frame targets
def test_merge_marks_gives_stress_to_the_next_and_length_to_the_previous_phone():
    rows = [("h", 0.1, 0.15, "hello"), ("ə", 0.15, 0.2, "hello"), ("l", 0.2, 0.25, "hello"),
            ("ˈ", 0.25, 0.3, "hello"), ("O", 0.3, 0.4, "hello"), (" ", 0.4, 0.5, ""),
            ("ɑ", 0.5, 0.6, "ah"), ("ː", 0.6, 0.7, "ah"), (".", 0.7, 0.8, ".")]
    assert frames.merge_marks(rows) == [["h", 0.1, 0.15], ["ə", 0.15, 0.2], ["l", 0.2, 0.25],
                                        ["O", 0.25, 0.4], ["ɑ", 0.5, 0.7]]


def test_frame_targets_follow_the_spans():
    phones = [["h", 0.1, 0.2], ["O", 0.2, 0.4]]
    n = frames.num_frames(16_000)
    assert n == 49  # wav2vec2: 49 frames for one second
    t = frames.frame_targets(phones, n)
    centres = (np.arange(n) * 320 + 200) / 16_000
    h, o = frames.phone_class("h"), frames.phone_class("O")
    assert h != o and 0 not in (h, o)
    np.testing.assert_array_equal(t, np.where((centres >= 0.1) & (centres < 0.2), h,
                                              np.where((centres >= 0.2) & (centres < 0.4), o, 0)))
    # speed perturbation: times scale with the audio
    slow = frames.frame_targets(phones, n, scale=2.0)
    assert (slow == o).sum() == pytest.approx(2 * (t == o).sum(), abs=1)
    assert frames.phone_class("ʔ") > 0 and frames.phone_class("ç") == frames.OTHER
    assert frames.phone_class(".") == frames.phone_class(" ") == frames.SILENCE


def test_silence_mask_keeps_a_margin_and_the_loss_asks_for_blank_there():
    import math

    import torch

    from workbench.recipe.frames import IGNORE, silence_loss, silence_mask

    targets = torch.tensor([[0, 0, 0, 0, 0, 5, 5, 0, 0, 0, 0, 0], [IGNORE] * 12])
    mask = silence_mask(targets, margin=2)
    assert mask[0].tolist() == [True] * 3 + [False] * 6 + [True] * 3 and not mask[1].any()
    assert silence_mask(targets, margin=0)[0].tolist() == [True] * 5 + [False] * 2 + [True] * 5
    flat = torch.zeros(2, 12, 32)  # uniform over 32 tokens: p(blank or "|") = 2/32
    assert float(silence_loss(flat, targets, blank_id=0, delimiter_id=4)) == pytest.approx(math.log(16), rel=1e-6)
    quiet = flat.clone()
    quiet[..., 0] = 10.0  # blank dominates every frame
    assert float(silence_loss(quiet, targets, 0, 4)) == pytest.approx(-math.log((math.e ** 10 + 1) / (math.e ** 10 + 31)), rel=1e-5)
    early = quiet.clone()
    early[0, 0, 0], early[0, 0, 6] = 0.0, 10.0  # a letter said on the first frame, in the leading silence
    assert float(silence_loss(early, targets, 0, 4)) > 1.0
    assert float(silence_loss(flat, torch.full((2, 12), IGNORE), 0, 4)) == 0.0  # espeak rows: nothing to ask


def test_num_frames_is_the_models_own_length():
    from workbench.recipe.build import new_model

    model = new_model("ctc")
    for n in (400, 719, 720, 16_000, 16_321, 54_321):
        assert frames.num_frames(n) == int(model._get_feat_extract_output_lengths(n))


def test_spliced_frame_targets_line_up_with_word_spans():
    from workbench.recipe.broad import splice_utterance

    rng = np.random.default_rng(0)
    pieces = []
    for word, phones in (("cat", "kæt"), ("sat", "sæt"), ("down", "dWn")):
        n = 0.03 + 0.1 * len(phones)  # 15 ms margins around 100 ms phones
        spans = [[p, round(0.015 + 0.1 * k, 4), round(0.115 + 0.1 * k, 4)] for k, p in enumerate(phones)]
        pieces.append({"word": word, "audio": rng.normal(0, 0.1, int(n * 16_000)).astype(np.float32),
                       "phones": spans})
    audio, row = splice_utterance(pieces, random.Random(1))
    assert row["text"] == "Cat sat down."
    assert [w["word"] for w in row["words"]] == ["cat", "sat", "down"]
    n = frames.num_frames(len(audio))
    targets = frames.frame_targets(row["phones"], n)
    inside = frames.word_frames(row["words"], n)
    np.testing.assert_array_equal(targets > 0, inside == 1)
    for w in row["words"]:  # each word lasts its 3 phones (300 ms = 15 frames)
        assert w["end"] - w["start"] == pytest.approx(0.3, abs=1e-3)
    assert (targets > 0).sum() == pytest.approx(45, abs=3)
    # audio between the words is the pauses only: the word spans fall inside the audio
    assert row["words"][-1]["end"] < len(audio) / 16_000


# ---------------------------------------------------------------- the data stage (Kokoro)
@pytest.fixture(scope="module")
def smoke_data(tmp_path_factory):
    from workbench.recipe.broad import BlockSizes, make_broad_data

    root = tmp_path_factory.mktemp("broad")
    sizes = BlockSizes(kokoro=2, splice=3, espeak=2 if shutil.which("espeak-ng") else 0)
    sources = ("kokoro", "splice", "espeak") if sizes.espeak else ("kokoro", "splice")
    made = make_broad_data(root, blocks=1, seed=5, sizes=sizes, sources=sources)
    return root, sizes, sources, made


def _rows(path):
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


@needs_assets
def test_data_stage_makes_seeded_resumable_blocks(smoke_data):
    from workbench.recipe.broad import make_broad_data, summary
    from workbench.recipe.data import EVAL_VOICES

    root, sizes, sources, made = smoke_data
    assert made["kokoro"] == 2 and made["splice"] == 3
    kokoro = _rows(root / "kokoro" / "manifest.jsonl")
    assert [r["id"] for r in kokoro] == ["kokoro-000000", "kokoro-000001"]
    for r in kokoro:
        assert not set(r["voice"].replace(",", ":").split(":")) & set(EVAL_VOICES)
        assert 0.8 <= r["speed"] <= 1.3 and r["duration"] > 0.5
        assert [w["word"].lower() for w in r["words"]] == [w.strip(".,?").lower() for w in r["text"].split()]
        # every phone span lies inside one of the word spans
        assert all(any(w["start"] - 1e-6 <= s and e <= w["end"] + 1e-6 for w in r["words"]) for _, s, e in r["phones"])
        assert (root / "kokoro" / r["audio_filepath"]).stat().st_size > 1000
    # a second run finds everything done and makes nothing; the rows are unchanged
    assert make_broad_data(root, blocks=1, seed=5, sizes=sizes, sources=sources) == {s: 0 for s in sources}
    assert _rows(root / "kokoro" / "manifest.jsonl") == kokoro
    assert summary(root)["kokoro"]["utterances"] == 2


@needs_assets
def test_spliced_kokoro_words_keep_their_phone_spans(smoke_data):
    import soundfile as sf

    root = smoke_data[0]
    kokoro_words = {w["word"].lower() for r in _rows(root / "kokoro" / "manifest.jsonl") for w in r["words"]}
    for r in _rows(root / "splice" / "manifest.jsonl"):
        assert {w["word"].lower() for w in r["words"]} <= kokoro_words
        audio, sr = sf.read(str(root / "splice" / r["audio_filepath"]))
        assert sr == 16_000 and len(audio) / sr == pytest.approx(r["duration"], abs=1e-3)
        n = frames.num_frames(len(audio))
        targets = frames.frame_targets(r["phones"], n)
        inside = frames.word_frames(r["words"], n)
        assert ((targets > 0) <= (inside == 1)).all()  # no phone outside a word
        assert (targets[inside == 1] > 0).mean() > 0.9  # and the words are (almost) all phones


@needs_assets
@needs_espeak
def test_espeak_rows_have_text_and_no_phone_spans(smoke_data):
    rows = _rows(smoke_data[0] / "espeak" / "manifest.jsonl")
    assert len(rows) == 2 and all("phones" not in r and r["duration"] > 0.3 for r in rows)
    assert all(r["voice"].split("+")[0].startswith("en") for r in rows)


# ---------------------------------------------------------------- training with the auxiliary loss
def _tiny_ctc(folder, mask_time_prob: float = 0.0):
    """A one-layer random CTC checkpoint with 32-channel convs (seconds to train a few steps)."""
    from workbench.recipe.build import new_model, save_model

    return save_model(new_model("ctc", hidden_size=64, num_hidden_layers=1, num_attention_heads=2,
                                intermediate_size=128, conv_dim=(32,) * 7, num_conv_pos_embedding_groups=4,
                                num_conv_pos_embeddings=16, mask_time_prob=mask_time_prob), folder, kind="ctc")


@needs_assets
def test_aux_loss_falls_on_a_tiny_overfit_and_export_is_plain_ctc(smoke_data, tmp_path):
    from transformers import Wav2Vec2ForCTC

    from workbench.recipe.broad_train import BroadConfig, BroadTrainer

    root = smoke_data[0]
    tiny = _tiny_ctc(tmp_path / "tiny")
    cfg = BroadConfig(steps=25, lr=3e-3, warmup=1, batch_size=2, max_batch_seconds=60, log_every=1,
                      eval_every=1000, save_every=25, speed_perturb=0.0, pad_augment=0.0, concat_augment=0.0,
                      aux_weight=1.0, weights={"kokoro": 1.0}, threads=2)
    trainer = BroadTrainer(root, tmp_path, cfg, init_from=tiny, held_out={})
    assert trainer.run()
    aux = [e["aux"] for e in trainer.log if "aux" in e]
    assert np.mean(aux[-5:]) < 0.7 * aux[0], aux
    folder = trainer.export(tmp_path / "export")
    model = Wav2Vec2ForCTC.from_pretrained(str(folder))
    assert model.config.vocab_size == 32 and json.loads((folder / "vocab.json").read_text())["|"] == 4
    assert not any("aux" in k for k in model.state_dict())
    # resuming picks up the saved step and the auxiliary head
    again = BroadTrainer(root, tmp_path, cfg, init_from=tiny, held_out={})
    assert again.step == 25
    assert all((a == b).all() for a, b in zip(again.aux.parameters(), trainer.aux.parameters()))


# ---------------------------------------------------------------- the second held-out set
def test_prose_set_is_held_out_voices_and_sentences_no_generator_makes():
    from pathlib import Path

    from workbench.recipe.data import EVAL_VOICES, TRAIN_VOICES
    from workbench.recipe.prose import PROSE
    from workbench.recipe.sentences import generate

    rows = _rows(Path(__file__).resolve().parents[1] / "datasets" / "kokoro-prose" / "manifest.jsonl")
    assert len(rows) == len(PROSE) == 40
    assert sorted(r["text"] for r in rows) == sorted(PROSE)
    assert {r["voice"] for r in rows} <= set(EVAL_VOICES) and not set(EVAL_VOICES) & set(TRAIN_VOICES)
    assert all(len(r["words"]) == len(r["text"].split()) for r in rows)  # Kokoro said every word
    assert not set(PROSE) & set(generate(20_000, seed=101))
    assert len(word_types(PROSE)) > 250


def test_dev_set_is_fresh_text_in_training_voices():
    from pathlib import Path

    from workbench.recipe.broad import held_out_texts
    from workbench.recipe.data import EVAL_VOICES, TRAIN_VOICES
    from workbench.recipe.dev import DEV_PROSE, dev_sentences
    from workbench.recipe.prose import PROSE
    from workbench.recipe.sentences import generate

    rows = _rows(Path(__file__).resolve().parents[1] / "datasets" / "kokoro-dev" / "manifest.jsonl")
    texts = dev_sentences()
    assert [r["text"] for r in rows] == texts and len(texts) == 36 + len(DEV_PROSE)
    assert {r["voice"] for r in rows} <= set(TRAIN_VOICES) and not {r["voice"] for r in rows} & set(EVAL_VOICES)
    keys = {t.strip().lower() for t in texts}
    # training_text() drops every committed set's sentences, this one's included, so check the draws it filters
    lm_text = {s.strip().lower() for s in generate(30_000, seed=101) + generate(20_000, seed=102)}
    others = held_out_texts() - keys  # held_out_texts() reads every committed set, this one included
    assert not keys & lm_text and not keys & others and not set(DEV_PROSE) & set(PROSE)


# ---------------------------------------------------------------- training over cached conv features
@needs_assets
def test_cached_feature_training_matches_the_audio_path_and_keeps_the_encoder(smoke_data, tmp_path):
    import torch

    from workbench.recipe.broad_train import BroadConfig, greedy_scores
    from workbench.recipe.feature_train import FeatureTrainer, feature_greedy_scores, forward_frames

    root = smoke_data[0]
    tiny = _tiny_ctc(tmp_path / "tiny")
    held = {"smoke": [dict(r) for r in _rows(root / "kokoro" / "manifest.jsonl")]}
    import soundfile as sf

    from workbench.recipe.broad_train import _normalise

    for r in held["smoke"]:
        r["array"] = _normalise(sf.read(str(root / "kokoro" / r["audio_filepath"]), dtype="float32")[0])
    cfg = BroadConfig(steps=30, lr=3e-3, warmup=1, batch_size=4, max_batch_seconds=60, log_every=1,
                      eval_every=1000, save_every=30, reload_every=10, aux_weight=1.0,
                      weights={"kokoro": 0.5, "splice": 0.5},
                      threads=2)
    trainer = FeatureTrainer(root, tmp_path, cfg, init_from=tiny, held_out=held)
    conv_before = {k: v.clone() for k, v in trainer.model.wav2vec2.feature_extractor.state_dict().items()}
    rows = [r for source in trainer.store.rows.values() for r in source]
    assert len(rows) == sum(len(_rows(root / s / "manifest.jsonl")) for s in smoke_data[2])
    assert all(r["feats"].shape == (r["frames"], 32) and "array" not in r for r in rows)
    for source, stored in trainer.store.rows.items():
        for r in stored:
            audio = sf.read(str(root / source / "audio" / f"{r['id']}.flac"), dtype="float32")[0]
            assert r["frames"] == frames.num_frames(len(audio))
    # the cached path scores what the audio path scores (float16 features: the same greedy text here)
    assert feature_greedy_scores(trainer.model, held) == greedy_scores(trainer.model, held)
    # a padded batch under the frame mask gives each clip what it gets alone
    trainer.model.eval()
    a, b = sorted(rows, key=lambda r: r["frames"])[:: len(rows) - 1]
    feats = torch.zeros(2, b["frames"], 32)
    mask = torch.zeros(2, b["frames"], dtype=torch.bool)
    for k, r in enumerate((a, b)):
        feats[k, : r["frames"]] = torch.from_numpy(r["feats"].astype(np.float32))
        mask[k, : r["frames"]] = True
    with torch.no_grad():
        batched, _ = forward_frames(trainer.model, feats, mask)
        alone, _ = forward_frames(trainer.model, feats[:1, : a["frames"]], mask[:1, : a["frames"]])
    assert torch.allclose(batched[0, : a["frames"]], alone[0], atol=1e-4)
    trainer.model.train()
    assert trainer.run()
    losses = [e["loss"] for e in trainer.log if "loss" in e]
    assert np.mean(losses[-5:]) < 0.7 * losses[0], losses
    after = trainer.model.wav2vec2.feature_extractor.state_dict()
    assert all(torch.equal(conv_before[k], after[k]) for k in conv_before)  # the encoder stayed frozen
    assert trainer.best is not None and (tmp_path / "broad" / "best" / "w2v2-tiny-ctc" / "model.safetensors").exists()


@needs_assets
def test_training_sample_draws_seeded_rows_with_audio(smoke_data):
    from workbench.recipe.broad_train import training_sample

    root, sizes, sources, _ = smoke_data
    a = training_sample(root, per_source=2, seed=3, sources=sources)
    b = training_sample(root, per_source=2, seed=3, sources=sources)
    assert set(a) == set(sources)
    assert [r["id"] for r in a["splice"]] == [r["id"] for r in b["splice"]] and len(a["splice"]) == 2
    for source, rows in a.items():
        ids = {r["id"] for r in _rows(root / source / "manifest.jsonl")}
        for r in rows:
            assert r["id"] in ids and abs(float(r["array"].std()) - 1.0) < 1e-3  # normalised audio
            assert len(r["array"]) / 16_000 == pytest.approx(r["duration"], abs=1e-3)


@needs_assets
def test_dropout_setting_rebuilds_the_model_with_the_same_weights(smoke_data, tmp_path):
    import torch
    from transformers import Wav2Vec2ForCTC

    from workbench.recipe.broad_train import BroadConfig
    from workbench.recipe.feature_train import FeatureTrainer, forward_frames

    tiny = _tiny_ctc(tmp_path / "tiny", 0.05)
    cfg = BroadConfig(steps=1, dropout=0.2, mask_time_prob=0.0, mask_feature_prob=0.0, threads=2)
    trainer = FeatureTrainer(smoke_data[0], tmp_path / "run", cfg, init_from=tiny, held_out={})
    config = trainer.model.config
    assert (config.hidden_dropout, config.attention_dropout, config.feat_proj_dropout) == (0.2, 0.2, 0.2)
    before = Wav2Vec2ForCTC.from_pretrained(str(tiny)).state_dict()
    after = trainer.model.state_dict()
    assert set(before) - set(after) == {"wav2vec2.masked_spec_embed"}  # masking is off: no masked-frame embedding
    assert all(torch.equal(before[k], after[k]) for k in after)
    row = trainer.store.rows["kokoro"][0]
    feats = torch.from_numpy(row["feats"].astype("float32"))[None]
    mask = torch.ones(feats.shape[:2], dtype=torch.bool)
    with torch.no_grad():
        trainer.model.eval()
        a, b = forward_frames(trainer.model, feats, mask)[0], forward_frames(trainer.model, feats, mask)[0]
        trainer.model.train()
        c = forward_frames(trainer.model, feats, mask)[0]
    assert torch.equal(a, b) and not torch.allclose(a, c, atol=1e-4)  # dropout acts in training only
    with pytest.raises(ValueError, match="dropout=1.5 must be in"):
        FeatureTrainer(smoke_data[0], tmp_path / "bad", BroadConfig(steps=1, dropout=1.5), init_from=tiny, held_out={})


@needs_assets
def test_silence_weight_adds_the_blank_loss_to_the_training_loss(smoke_data, tmp_path):
    import torch

    from workbench.recipe.broad_train import BroadConfig
    from workbench.recipe.feature_train import FeatureTrainer

    cfg = BroadConfig(steps=1, aux_weight=0.5, silence_weight=0.25, threads=2)
    trainer = FeatureTrainer(smoke_data[0], tmp_path, cfg, init_from=_tiny_ctc(tmp_path / "tiny"), held_out={})
    rows = trainer.store.rows["kokoro"][:2]
    torch.manual_seed(0)
    trainer.model.eval()  # no dropout or masking: the three terms are the same in each call
    with torch.no_grad():
        total, fields = trainer.loss(rows)
    assert fields["sil"] > 0
    assert float(total) == pytest.approx(fields["ctc"] + 0.5 * fields["aux"] + 0.25 * fields["sil"], abs=2e-3)
    trainer.cfg = BroadConfig(steps=1, aux_weight=0.5, silence_weight=0.0, threads=2)
    assert "sil" not in trainer.loss(rows)[1]


@needs_assets
def test_specaugment_settings_reach_the_model_and_mask_only_in_training(smoke_data, tmp_path):
    import torch

    from workbench.recipe.broad_train import BroadConfig
    from workbench.recipe.feature_train import FeatureTrainer, forward_frames

    cfg = BroadConfig(steps=1, mask_time_prob=0.4, mask_feature_prob=0.25, mask_feature_length=4, threads=2)
    trainer = FeatureTrainer(smoke_data[0], tmp_path, cfg, init_from=_tiny_ctc(tmp_path / "tiny", 0.05),
                             held_out={})
    config = trainer.model.config
    assert (config.mask_time_prob, config.mask_feature_prob, config.mask_feature_length) == (0.4, 0.25, 4)
    row = max((r for rows in trainer.store.rows.values() for r in rows), key=lambda r: r["frames"])
    feats = torch.from_numpy(row["feats"].astype("float32"))[None]
    mask = torch.ones(feats.shape[:2], dtype=torch.bool)
    trainer.model.eval()
    with torch.no_grad():
        a, b = forward_frames(trainer.model, feats, mask)[0], forward_frames(trainer.model, feats, mask)[0]
        trainer.model.train()
        torch.manual_seed(0)
        c = forward_frames(trainer.model, feats, mask)[0]
    assert torch.equal(a, b) and not torch.allclose(a, c, atol=1e-4)  # masked while training, never at inference


def test_experiments_table_lists_this_run_then_the_earlier_ones(tmp_path):
    from workbench.recipe.card import EARLIER_RUNS, OTHER_RUNS, experiments_table

    def entry(step, cer):
        return {"step": step, "minutes": step / 100, "hours": 5.0, "eval": {"kokoro-dev": {"wer": 0.5, "cer": cer}}}

    (tmp_path / "training_log.json").write_text(json.dumps([{"step": 1, "loss": 3.0}, entry(500, 0.25)]))
    assert "| 500 | 5.0 | 5.0 | 50.0% | 25.0% |" in experiments_table(tmp_path)
    assert "Earlier" not in experiments_table(tmp_path)
    (tmp_path / EARLIER_RUNS).write_text(json.dumps({"run 2": [entry(100, 0.5)], "run 3": [entry(200, 0.4)]}))
    table = experiments_table(tmp_path)
    assert table.index("This checkpoint's run") < table.index("Earlier: run 3") < table.index("Earlier: run 2")
    assert "| 200 | 2.0 | 5.0 | 50.0% | 40.0% |" in table
    (tmp_path / OTHER_RUNS).write_text(json.dumps({"run 5": [entry(300, 0.3)]}))
    table = experiments_table(tmp_path)
    assert table.index("This checkpoint's run") < table.index("Not shipped: run 5") < table.index("Earlier: run 3")
    assert "| 300 | 3.0 | 5.0 | 50.0% | 30.0% |" in table


@needs_assets
def test_pipeline_words_use_only_rows_whose_durations_kokoro_reproduces():
    import copy
    from pathlib import Path

    from workbench.data.corpus import Corpus
    from workbench.recipe.card import pipeline_words

    full = Corpus.load(Path(__file__).resolve().parents[1] / "datasets" / "kokoro-eval" / "manifest.jsonl")
    rows = [copy.deepcopy(full["eval-00000"]), copy.deepcopy(full["eval-00003"])]
    rows[1].extra["words"][2]["start"] += 0.025  # one frame off: not the durations Kokoro gives
    words, n = pipeline_words(Corpus(rows, name="two"))
    assert n == 1 and set(words) == {"eval-00000"}
    stored = rows[0].extra["words"]
    assert [w["word"] for w in words["eval-00000"]] == [w["word"] for w in stored]
    assert words["eval-00000"][0]["start"] == pytest.approx(stored[0]["start"] - 0.075)  # 3 frames early
    gaps = [b["start"] - a["end"] for a, b in zip(stored, stored[1:])]
    leads = [w["start"] - p["start"] for w, p in zip(stored[1:], words["eval-00000"][1:])]
    assert leads == pytest.approx([0.075 + g / 2 for g in gaps])  # ... and half the space before the word
