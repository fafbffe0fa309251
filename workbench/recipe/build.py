"""Building small wav2vec2 models and their processor files (the recipe's and the tests' shapes)."""
from __future__ import annotations

import json
from pathlib import Path

from ..models import assets

#: wav2vec2-base-960h's 32-token character vocabulary (``<pad>`` = blank = 0, ``|`` = 4).
VOCAB = {"<pad>": 0, "<s>": 1, "</s>": 2, "<unk>": 3, "|": 4, "E": 5, "T": 6, "A": 7, "O": 8, "N": 9, "I": 10,
         "H": 11, "S": 12, "R": 13, "D": 14, "L": 15, "U": 16, "M": 17, "W": 18, "C": 19, "F": 20, "G": 21,
         "Y": 22, "P": 23, "B": 24, "V": 25, "K": 26, "'": 27, "X": 28, "J": 29, "Q": 30, "Z": 31}

#: The base model's feature extractor settings (group norm: no attention mask).
FEATURE_EXTRACTOR = {"do_normalize": True, "feature_size": 1, "padding_side": "right", "padding_value": 0.0,
                     "return_attention_mask": False, "sampling_rate": 16000}

#: A small member of the wav2vec2-base family: same conv encoder strides (320x), fewer/narrower layers.
TINY = dict(hidden_size=192, num_hidden_layers=4, num_attention_heads=4, intermediate_size=768,
            conv_dim=(96,) * 7, feat_extract_norm="group", do_stable_layer_norm=False,
            num_conv_pos_embeddings=64, num_conv_pos_embedding_groups=8, vocab_size=32,
            num_codevector_groups=2, num_codevectors_per_group=320, codevector_dim=128, proj_codevector_dim=128,
            pad_token_id=0, bos_token_id=1, eos_token_id=2, ctc_loss_reduction="mean", ctc_zero_infinity=True,
            mask_time_prob=0.05, mask_time_length=10, layerdrop=0.0, hidden_dropout=0.1,
            attention_dropout=0.1, activation_dropout=0.0, feat_proj_dropout=0.1, final_dropout=0.0,
            num_negatives=50, diversity_loss_weight=0.1, contrastive_logits_temperature=0.1)


def check_vocab_against_assets() -> bool:
    """True when the asset copy of the vocabulary equals :data:`VOCAB` (None if assets absent)."""
    path = assets.find_asset("wav2vec2/wav2vec2-base-960h.vocab.json")
    return path is None or json.loads(path.read_text()) == VOCAB


def tiny_config(**overrides):
    from transformers import Wav2Vec2Config

    return Wav2Vec2Config(**{**TINY, **overrides})


def save_processor(folder: Path, *, with_tokenizer: bool = True) -> None:
    """Write the feature extractor (and the CTC tokenizer) in Hugging Face format."""
    from transformers import Wav2Vec2CTCTokenizer, Wav2Vec2FeatureExtractor

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    Wav2Vec2FeatureExtractor(**FEATURE_EXTRACTOR).save_pretrained(folder)
    if with_tokenizer:
        vocab_file = folder / "vocab.json"
        vocab_file.write_text(json.dumps(VOCAB))
        tok = Wav2Vec2CTCTokenizer(str(vocab_file), unk_token="<unk>", pad_token="<pad>", word_delimiter_token="|")
        tok.save_pretrained(folder)


def new_model(kind: str = "ctc", *, seed: int = 0, **overrides):
    """A freshly initialised small model (``ctc`` or ``pretraining``)."""
    import torch
    from transformers import Wav2Vec2ForCTC, Wav2Vec2ForPreTraining

    torch.manual_seed(seed)
    cfg = tiny_config(**overrides)
    return (Wav2Vec2ForCTC if kind == "ctc" else Wav2Vec2ForPreTraining)(cfg)


def save_model(model, folder: Path, *, kind: str) -> Path:
    """Save weights (safetensors) + config + processor files, loadable by ``from_pretrained``."""
    folder = Path(folder)
    model.save_pretrained(folder, safe_serialization=True)
    save_processor(folder, with_tokenizer=kind == "ctc")
    return folder


def deepen(model, after: tuple[int, ...]):
    """``model`` with a new transformer layer inserted after each layer index in ``after``, computing
    the same function (a function-preserving deepening, as Net2Net does for depth).

    For the post-LayerNorm layers of wav2vec2-base (``do_stable_layer_norm=False``): the new layer
    starts as a copy of the one before it with its attention output and feed-forward output zeroed,
    and takes over that layer's final LayerNorm affine, which becomes the identity.  The earlier
    layer then outputs the plain normalised vector, the new layer's residual branches add nothing
    and its first LayerNorm leaves that vector as it is, so its final LayerNorm gives back exactly
    the old output.  The zeroed projections get gradients at once (their inputs are not zero).
    """
    import copy

    import torch
    from transformers import Wav2Vec2ForCTC

    if model.config.do_stable_layer_norm:
        raise ValueError("deepen handles the post-LayerNorm layout of wav2vec2-base (do_stable_layer_norm=False)")
    layers = list(model.wav2vec2.encoder.layers)
    if not after or any(not 0 <= k < len(layers) for k in after) or len(set(after)) != len(after):
        raise ValueError(f"after={after}: give distinct layer indices in 0..{len(layers) - 1}")
    cfg = copy.deepcopy(model.config)
    cfg.num_hidden_layers = len(layers) + len(after)
    grown = Wav2Vec2ForCTC(cfg) if isinstance(model, Wav2Vec2ForCTC) else type(model)(cfg)
    state = {k: v for k, v in model.state_dict().items() if ".encoder.layers." not in k}
    new_layers = []
    for k, layer in enumerate(layers):
        old = copy.deepcopy(layer)
        new_layers.append(old)
        if k in after:
            extra = copy.deepcopy(layer)
            with torch.no_grad():
                extra.final_layer_norm.load_state_dict(layer.final_layer_norm.state_dict())
                old.final_layer_norm.weight.fill_(1.0)
                old.final_layer_norm.bias.zero_()
                extra.layer_norm.weight.fill_(1.0)
                extra.layer_norm.bias.zero_()
                for lin in (extra.attention.out_proj, extra.feed_forward.output_dense):
                    lin.weight.zero_()
                    lin.bias.zero_()
            new_layers.append(extra)
    for i, layer in enumerate(new_layers):
        state.update({f"wav2vec2.encoder.layers.{i}.{k}": v for k, v in layer.state_dict().items()})
    missing, unexpected = grown.load_state_dict(state, strict=False)
    if missing or unexpected:
        raise RuntimeError(f"deepen lost weights: missing {missing}, unexpected {unexpected}")
    return grown
