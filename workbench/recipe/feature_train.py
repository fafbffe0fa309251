"""Broad CTC training over cached conv features: the conv feature encoder frozen, its output
computed once per utterance, and only the projection + transformer + heads trained.

Why: on a 2-core CPU the raw-waveform conv stack costs about half of every forward pass and
more of the backward one, and batching raw audio of a group-norm model (no attention mask)
pads clips with zeros the model never sees at inference.  With the encoder frozen, its
output for an utterance never changes, so it is computed once (one clip at a time, exactly
as inference runs it) and kept in memory as float16; a batch pads *frames* under an
attention mask instead.  Training then runs several times more updates per hour, and a
clip's training input is the same as its inference input.

The exported model is the same plain ``Wav2Vec2ForCTC`` (the frozen encoder's weights are
the ones it was initialised with), so :func:`.broad_train.export_checkpoint` and the model
card apply unchanged.  The loss is the broad stage's: CTC + ``aux_weight`` x frame phoneme
cross-entropy (:mod:`.frames`), with the same source weighting and seeded batches.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from .broad_train import BroadConfig, BroadTrainer, RowStore, greedy_scores
from .broad import splice_text, spoken_word
from .frames import IGNORE, SILENCE, frame_centres, frame_targets
from .train import _text_to_labels


def conv_features(model, audio: np.ndarray) -> np.ndarray:
    """The frozen conv encoder's output for one normalised clip, as [frames, channels] float16."""
    import torch

    with torch.no_grad():
        out = model.wav2vec2.feature_extractor(torch.from_numpy(audio)[None])
    return out[0].transpose(0, 1).numpy().astype(np.float16)


def encoder_key(model) -> str:
    """A short hash of the conv feature encoder's weights: cached features are valid for these only."""
    import hashlib

    h = hashlib.sha256()
    for name, tensor in sorted(model.wav2vec2.feature_extractor.state_dict().items()):
        h.update(name.encode())
        h.update(tensor.detach().cpu().contiguous().numpy().tobytes())
    return h.hexdigest()[:16]


class FeatureStore(RowStore):
    """:class:`.broad_train.RowStore` that keeps each row's conv features and frame targets
    instead of its audio (the audio is dropped once encoded)."""

    def __init__(self, data_dir: Path, model, *, limit: int | None = None, cache: bool = True) -> None:
        self.model = model
        self.cache_dir = Path(data_dir) / "features" / encoder_key(model) if cache else None
        super().__init__(data_dir, limit=limit)

    def prepare(self, row: dict) -> dict:
        """Encode the audio once (conv features, float16) with its frame targets; drop the audio.

        The features are kept in ``<data>/features/<encoder key>/`` (one ``.npy`` per row and length),
        so a resumed or later run over the same frozen encoder reads them instead of encoding again.
        """
        audio = row.pop("array")
        path = self.cache_dir / f"{row['id']}-{len(audio)}.npy" if self.cache_dir else None
        if path is not None and path.exists():
            row["feats"] = np.load(path)
        else:
            row["feats"] = conv_features(self.model, audio)
            if path is not None:
                path.parent.mkdir(parents=True, exist_ok=True)
                tmp = path.with_name(f".{path.stem}.tmp.npy")
                np.save(tmp, row["feats"])
                tmp.replace(path)
        n = row["frames"] = len(row["feats"])
        row["targets"] = (frame_targets(row["phones"], n) if row.get("phones")
                          else np.full(n, IGNORE, dtype=np.int64)).astype(np.int8)
        return row

    def length(self, row: dict) -> int:
        return row["frames"]

    def seconds(self, row: dict) -> float:
        return row["frames"] * 0.02


def word_frame_span(start: float, end: float, n_frames: int, margin: int = 1) -> tuple[int, int]:
    """Frames ``[lo, hi)`` whose centres fall in ``[start, end]`` seconds, widened by ``margin``
    frames each side (the conv encoder's 25 ms window reaches past the centre) and kept in the clip."""
    lo, hi = np.searchsorted(frame_centres(n_frames), [start, end])
    return max(0, int(lo) - margin), min(n_frames, int(hi) + margin)


def feature_pieces(row: dict) -> tuple[list[dict], np.ndarray | None]:
    """A cached Kokoro row cut at Kokoro's word boundaries: each spoken word's conv-feature frames
    and frame targets (views, not copies), and the row's leading silence frames (None when it has none)."""
    pieces, first = [], 0
    for k, w in enumerate(row.get("words") or []):
        word = spoken_word(w["word"])
        lo, hi = word_frame_span(w["start"], w["end"], row["frames"])
        if k == 0:
            first = lo
        if word and hi > lo:
            pieces.append({"word": word, "feats": row["feats"][lo:hi], "targets": row["targets"][lo:hi]})
    lead = row["feats"][:first] if pieces and first >= 4 and np.all(row["targets"][:first] == SILENCE) else None
    return pieces, lead


def splice_features(pieces: list[dict], silence: np.ndarray, rng) -> dict:
    """A new utterance made of word pieces at the conv-feature level, as :func:`.broad.splice_utterance`
    makes one from audio: 100-400 ms of silence frames around it, 0-120 ms between words.

    Why: the CPU recipe trains over cached conv features, so audio splices cost an encoder pass
    each and come from a fixed folder; cutting the cached frames instead gives every batch new
    word sequences for free, so the model cannot learn its training sentences as wholes.  The
    frames at a cut see 1-2 frames of their original neighbours (the encoder's window), as an
    audio splice's 15 ms margins do.
    """
    def gap(lo: int, hi: int) -> tuple[np.ndarray, np.ndarray]:
        """``lo``-``hi`` frames of silence (repeated when the voice's is shorter) and their targets."""
        k = rng.randint(lo, hi)
        start = rng.randint(0, max(0, len(silence) - k))
        frames = np.resize(silence[start:start + k], (k, silence.shape[1]))
        return frames, np.full(k, SILENCE, dtype=np.int8)

    parts = [gap(5, 20)]
    for p in pieces:
        parts += [(p["feats"], p["targets"]), gap(0, 6)]
    parts[-1] = gap(5, 20)  # the last word ends in a trailing silence, not a word gap
    feats = np.concatenate([f for f, _ in parts]).astype(np.float16)
    targets = np.concatenate([t for _, t in parts]).astype(np.int8)
    text = splice_text([p["word"] for p in pieces])
    return {"id": "splice-frames", "text": text, "labels": _text_to_labels(text), "feats": feats,
            "frames": len(feats), "targets": targets}


class FeatureSpliceStore(FeatureStore):
    """:class:`FeatureStore` with one more source, ``online``: every batch drawn from it is new word
    sequences spliced from the Kokoro rows' cached frames (:func:`splice_features`), one voice per
    utterance.  Its weight in ``cfg.weights`` turns it on (0 or absent: the plain store)."""

    def __init__(self, data_dir: Path, model, *, limit: int | None = None, cache: bool = True) -> None:
        self.pieces: dict[str, list[dict]] = {}
        self.silence: dict[str, list[np.ndarray]] = {}
        self._cut = 0  # Kokoro rows already cut into pieces (reload cuts only the new ones)
        super().__init__(data_dir, model, limit=limit, cache=cache)

    def reload(self, *, threads: int = 4) -> int:
        added = super().reload(threads=threads)
        kokoro = self.rows.get("kokoro", [])
        for row in kokoro[self._cut:]:
            if not row.get("words") or not row.get("phones"):
                continue
            pieces, lead = feature_pieces(row)
            self.pieces.setdefault(row["voice"], []).extend(pieces)
            if lead is not None:
                self.silence.setdefault(row["voice"], []).append(lead)
        self._cut = len(kokoro)
        self.voices = sorted(v for v, p in self.pieces.items() if len(p) >= 4 and self.silence.get(v))
        return added

    def available(self, cfg: BroadConfig) -> list[str]:
        have = super().available(cfg)
        if self.voices and cfg.weights.get("online", 0) > 0:
            have.append("online")
        return have

    def neighbours(self, source: str, rng: np.random.Generator, cfg: BroadConfig) -> list[dict]:
        if source != "online":
            return super().neighbours(source, rng, cfg)
        import random

        r, out = random.Random(int(rng.integers(2**62))), []
        while len(out) < cfg.batch_size:
            voice = r.choice(self.voices)
            pool = self.pieces[voice]
            row = splice_features(r.sample(pool, min(len(pool), r.randint(5, 14))), r.choice(self.silence[voice]), r)
            width = max([row["frames"]] + [x["frames"] for x in out]) * 0.02
            if out and width * (len(out) + 1) > cfg.max_batch_seconds:
                break
            out.append(row)
        return out


def forward_frames(model, feats, mask):
    """Projection + transformer + CTC head from conv features; returns (ctc logits, last hidden).

    ``mask`` ([batch, frames], bool) marks real frames; padded frames are zeroed and masked
    out of attention, so each clip sees what it would see alone.
    """
    w = model.wav2vec2
    hidden, _ = w.feature_projection(feats)
    hidden = w._mask_hidden_states(hidden, attention_mask=mask.long())
    last = w.encoder(hidden, attention_mask=mask).last_hidden_state
    return model.lm_head(model.dropout(last)), last


class FeatureTrainer(BroadTrainer):
    """:class:`.broad_train.BroadTrainer` over :class:`FeatureStore` (conv encoder frozen)."""

    def __init__(self, data_dir: Path, run_dir: Path, cfg: BroadConfig, *, init_from: Path | None = None,
                 row_limit: int | None = None, held_out: dict | None = None) -> None:
        super().__init__(data_dir, run_dir, cfg, init_from=init_from, row_limit=row_limit, held_out=held_out)
        for rows in self.held_out.values():
            for r in rows:
                r["feats"] = conv_features(self.model, r["array"])

    def _make_model(self, init_from):
        model = super()._make_model(init_from)
        model.freeze_feature_encoder()
        model.wav2vec2.feature_extractor.eval()
        return model

    def _make_store(self, data_dir: Path, row_limit: int | None) -> FeatureStore:
        return FeatureSpliceStore(data_dir, self.model, limit=row_limit)

    def loss(self, rows: list[dict]):
        import torch
        import torch.nn.functional as F

        n = max(r["frames"] for r in rows)
        feats = torch.zeros(len(rows), n, rows[0]["feats"].shape[1])
        mask = torch.zeros(len(rows), n, dtype=torch.bool)
        targets = torch.full((len(rows), n), IGNORE, dtype=torch.long)
        for k, r in enumerate(rows):
            feats[k, : r["frames"]] = torch.from_numpy(r["feats"].astype(np.float32))
            mask[k, : r["frames"]] = True
            targets[k, : r["frames"]] = torch.from_numpy(r["targets"].astype(np.int64))
        logits, last = forward_frames(self.model, feats, mask)
        log_probs = F.log_softmax(logits.float(), dim=-1).transpose(0, 1)
        labels = [torch.tensor(r["labels"]) for r in rows]
        ctc = F.ctc_loss(log_probs, torch.cat(labels), torch.tensor([r["frames"] for r in rows]),
                         torch.tensor([len(x) for x in labels]), blank=self.model.config.pad_token_id,
                         reduction="mean", zero_infinity=True)
        aux_logits = self.aux(last)
        aux = F.cross_entropy(aux_logits.reshape(-1, aux_logits.shape[-1]), targets.reshape(-1), ignore_index=IGNORE)
        if not torch.isfinite(aux):  # espeak rows only: nothing to classify
            aux = aux_logits.sum() * 0.0
        return self._total(ctc, aux, logits, targets)

    def held_out_scores(self) -> dict[str, dict]:
        return feature_greedy_scores(self.model, self.held_out)


def _feature_logits(model, row: dict):
    import torch

    feats = torch.from_numpy(row["feats"].astype(np.float32))[None]
    return forward_frames(model, feats, torch.ones(feats.shape[:2], dtype=torch.bool))[0][0]


def feature_greedy_scores(model, sets: dict[str, list[dict]]) -> dict[str, dict]:
    """Greedy WER/CER per held-out set from cached features, one clip per pass (no padding):
    the same numbers as :func:`.broad_train.greedy_scores` on the audio while the encoder is frozen."""
    try:
        return greedy_scores(model, sets, logits=_feature_logits)
    finally:
        model.wav2vec2.feature_extractor.eval()
