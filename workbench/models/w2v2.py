"""Loading wav2vec2 checkpoints (CTC or pretraining) into one bundle through transformers.

Hub ids, local folders and the package's own checkpoints all go through
``from_pretrained`` — the same code path — with ``local_files_only`` when offline, no
``trust_remote_code``, and safetensors preferred.  A hub model is looked for first as a
save_pretrained() folder on the asset search path (``models/<name>/``, ``<name>/`` or
``<org>/<repo>/``), then in the Hugging Face cache, then (online only) on the hub.
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

import numpy as np

from .. import settings
from ..data.audio import pad_batch
from ..errors import AssetIntegrityError, CapabilityError, ModelNotAvailableError
from . import assets
from .ctc import ProcessorFacts, conv_frames, conv_receptive_field, vocab_by_id
from .specs import ModelSpec

DTYPES = ("float32", "float16", "bfloat16", "int8")


@dataclass
class Wav2Vec2Bundle(ProcessorFacts):
    """A loaded wav2vec2 model with its feature extractor and (for CTC) tokenizer."""

    spec: ModelSpec
    model: object
    feature_extractor: object
    tokenizer: object | None
    device: str
    dtype: str
    revision: str
    source_path: str

    @property
    def name(self) -> str:
        return self.spec.name

    @property
    def kind(self) -> str:
        return self.spec.kind

    @property
    def config(self):
        return self.model.config

    @cached_property
    def frame_stride(self) -> int:
        """Input samples per output frame (320 for the base architecture)."""
        stride = 1
        for s in self.config.conv_stride:
            stride *= int(s)
        return stride

    @cached_property
    def receptive_field(self) -> int:
        """Samples one output frame sees through the conv feature encoder (400 for base)."""
        return conv_receptive_field(self.config.conv_kernel, self.config.conv_stride)

    @cached_property
    def vocab(self) -> list[str]:
        """Token strings by id (CTC models only)."""
        return vocab_by_id(self.tokenizer)

    @property
    def blank_id(self) -> int:
        return int(self.config.pad_token_id or 0)

    @property
    def num_layers(self) -> int:
        return int(self.config.num_hidden_layers)

    def num_frames(self, num_samples: int) -> int:
        """Output frames for an input of ``num_samples`` (the conv arithmetic, exactly)."""
        return conv_frames(num_samples, self.config.conv_kernel, self.config.conv_stride)

    def forward_batch(self, values: list[np.ndarray], *, layers: tuple[int, ...] = (),
                      codes: bool = False) -> list[dict]:
        """One model call on a right-padded batch of normalised clips; per-clip arrays trimmed to
        their own frames: ``log_probs`` [T, V] (CTC), ``h{layer}`` [T, D], ``codes``/``code_logits``.

        The attention mask is passed only when the checkpoint was trained with one
        (``uses_attention_mask``); otherwise zero padding changes a padded clip's outputs, which is
        why the engine runs such checkpoints one clip per call unless asked to batch."""
        import torch

        batch, mask, lengths = pad_batch(values)
        model = self.model
        param = next(model.parameters(), None)
        float_dtype = param.dtype if param is not None and param.is_floating_point() else torch.float32
        inputs = torch.from_numpy(batch).to(self.device, dtype=float_dtype)
        attn = torch.from_numpy(mask).to(self.device) if self.uses_attention_mask else None
        want_hidden = bool(layers)
        with torch.inference_mode():
            base = model.wav2vec2
            out = base(inputs, attention_mask=attn, output_hidden_states=want_hidden)
            hidden_last = out[0]
            log_probs = None
            if self.kind == "ctc":
                logits = model.lm_head(hidden_last)
                log_probs = torch.log_softmax(logits.float(), dim=-1).cpu().numpy()
            code_logits = None
            if codes:
                quantizer = getattr(model, "quantizer", None)
                if quantizer is None:
                    raise CapabilityError(
                        f"{self.name} is a CTC-only checkpoint with no quantizer; load a pretraining model "
                        f"for codes (e.g. 'wav2vec2-base' or the demo 'w2v2-tiny')")
                feats = out[1]
                b, t, _ = feats.shape
                g, v = quantizer.num_groups, quantizer.num_vars
                code_logits = quantizer.weight_proj(feats).float().view(b, t, g, v).cpu().numpy()
            hidden = {}
            if want_hidden:
                for layer in layers:
                    hidden[layer] = out.hidden_states[layer].float().cpu().numpy()
        results = []
        for i, n in enumerate(lengths):
            frames = self.num_frames(n)
            item: dict = {}
            if log_probs is not None:
                item["log_probs"] = log_probs[i, :frames]
            if code_logits is not None:
                item["code_logits"] = code_logits[i, :frames]
                item["codes"] = code_logits[i, :frames].argmax(-1)
            for layer, arr in hidden.items():
                item[f"h{layer}"] = arr[i, :frames]
            results.append(item)
        return results


def resolve_device(device: str) -> str:
    import torch

    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise ModelNotAvailableError(f"device={device!r} asked for but CUDA is not available; use device='cpu'")
    return device


def _revision_of(path: Path, spec: ModelSpec) -> str:
    """Hub snapshot commit when loaded from the HF cache, else a hash of the weights file."""
    match = re.search(r"snapshots/([0-9a-f]{40})", str(path))
    if match:
        return match.group(1)
    for name in ("model.safetensors", "pytorch_model.bin"):
        weights = path / name
        if weights.exists():
            return "sha256:" + assets.sha256_file(weights)[:16]
    return spec.revision or "unknown"


def _hub_cache_dir() -> str:
    from huggingface_hub import constants

    return str(constants.HF_HUB_CACHE)


def asset_candidates(spec: ModelSpec) -> tuple[str, ...]:
    """Relative folders on the asset path that may hold a hub model in save_pretrained() form."""
    return (f"models/{spec.name}", spec.name, spec.location)


def asset_folder(spec: ModelSpec) -> Path | None:
    """A Hugging Face-format folder of a hub model on the asset search path, if one is there."""
    if spec.source != "hub":
        return None
    found = assets.find_asset(*(f"{c}/config.json" for c in asset_candidates(spec)))
    return found.parent if found is not None else None


def _unavailable(spec: ModelSpec, exc: Exception | None) -> ModelNotAvailableError:
    reason = f" [{exc.__class__.__name__}: {str(exc).splitlines()[0][:200]}]" if exc else ""
    if spec.source != "hub":
        return ModelNotAvailableError(
            f"{spec.name}: not available at {spec.local_dir}; check the folder holds config.json, "
            "model.safetensors and preprocessor_config.json (the package's own demo checkpoints are built "
            f"by `workbench train`).{reason}"
        )
    offline = "HF_HUB_OFFLINE is set, so the hub was not asked" if settings.hf_offline() else "the hub download failed"
    folders = ", ".join(f"<folder>/{c}/" for c in asset_candidates(spec))
    return ModelNotAvailableError(
        f"{spec.name}: hub model {spec.location} is not on this machine ({offline}). Looked in the Hugging Face "
        f"cache at {_hub_cache_dir()} and on the asset path ({assets.asset_path_report()}: {folders}). "
        f"To get it: run `workbench fetch {spec.name}` on a machine with internet (it fills the Hugging Face "
        "cache; copy that cache here or set HF_HOME to it), or put a save_pretrained() copy in a folder on "
        f"WORKBENCH_ASSET_PATH as models/{spec.name}/, or `registry.register(NAME, '/path/to/folder')`.{reason}"
    )


def locate(spec: ModelSpec) -> str:
    """Where ``from_pretrained`` should look: an asset-path folder, a hub id or a local folder (no network)."""
    if spec.source == "hub":
        folder = asset_folder(spec)
        return str(folder) if folder is not None else spec.location
    folder = spec.local_dir
    if folder is None or not (folder / "config.json").exists():
        raise _unavailable(spec, None)
    return str(folder)


WEIGHT_FILES = ("model.safetensors", "pytorch_model.bin")


def available_offline(spec: ModelSpec) -> bool:
    """Config and weights present locally (asset path, HF cache or folder); no network call."""
    if spec.source == "hub":
        if asset_folder(spec) is not None:
            return True
        return assets.hf_cached_file(spec.location, "config.json", spec.revision) is not None and any(
            assets.hf_cached_file(spec.location, w, spec.revision) is not None for w in WEIGHT_FILES)
    if spec.source == "random-init":
        return assets.find_asset(spec.location) is not None
    folder = spec.local_dir
    return folder is not None and (folder / "config.json").exists()


def _random_init(spec: ModelSpec, seed: int = 0):
    """The real architecture from the asset config with seeded random weights."""
    import torch
    from transformers import (
        Wav2Vec2Config,
        Wav2Vec2CTCTokenizer,
        Wav2Vec2FeatureExtractor,
        Wav2Vec2ForCTC,
    )

    cfg_path = assets.find_asset(spec.location)
    if cfg_path is None:
        raise ModelNotAvailableError(
            f"{spec.name}: {spec.location} not found on the asset path ({assets.asset_path_report()}); "
            "point WORKBENCH_ASSET_PATH at the shared assets folder."
        )
    cfg = json.loads(cfg_path.read_text())
    cfg.pop("architectures", None)
    torch.manual_seed(seed)
    model = Wav2Vec2ForCTC(Wav2Vec2Config(**cfg))
    fe_path = cfg_path.with_name(cfg_path.name.replace("config.json", "preprocessor_config.json"))
    vocab_path = cfg_path.with_name(cfg_path.name.replace("config.json", "vocab.json"))
    fe = Wav2Vec2FeatureExtractor(**{k: v for k, v in json.loads(fe_path.read_text()).items()
                                      if k != "feature_extractor_type"})
    tok = Wav2Vec2CTCTokenizer(str(vocab_path), word_delimiter_token="|")
    return model, fe, tok, str(cfg_path)


def _is_refused_pickle(exc: BaseException) -> bool:
    """torch.load(weights_only=True) refused a pickle (an UnpicklingError, possibly wrapped)."""
    import pickle

    while exc is not None:
        if isinstance(exc, pickle.UnpicklingError) or "weights_only" in str(exc):
            return True
        exc = exc.__cause__ or exc.__context__
    return False


def _refused_pickle(spec: ModelSpec, where) -> AssetIntegrityError:
    """The error for pickled weights that hold more than tensors: what is wrong and what to do."""
    return AssetIntegrityError(
        f"{spec.name}: {Path(str(where)) / 'pytorch_model.bin'} is a pickle holding more than plain tensors, so "
        "the workbench refuses to load it (unpickling can run code). Use a checkpoint with model.safetensors: "
        "convert this one where you trust its origin (transformers: model.save_pretrained(folder, "
        "safe_serialization=True)), fetch the model's safetensors release, or pick another model")


def load(spec: ModelSpec, *, device: str = "auto", dtype: str = "float32") -> Wav2Vec2Bundle:
    """Load a wav2vec2 spec into a :class:`Wav2Vec2Bundle` on ``device`` in ``dtype``."""
    import torch
    from transformers import (
        Wav2Vec2CTCTokenizer,
        Wav2Vec2FeatureExtractor,
        Wav2Vec2ForCTC,
        Wav2Vec2ForPreTraining,
    )

    if dtype not in DTYPES:
        raise ValueError(f"dtype={dtype!r} must be one of {DTYPES}")
    device = resolve_device(device)
    if dtype == "int8" and device != "cpu":
        raise ValueError("dtype='int8' (dynamic quantization) runs on the CPU only; use device='cpu'")
    if dtype == "float16" and device == "cpu":
        raise ValueError("dtype='float16' needs CUDA; on the CPU use 'bfloat16' or 'int8'")

    if spec.source == "random-init":
        model, fe, tok, where = _random_init(spec)
        revision = "random-init-seed0"
    else:
        where = locate(spec)
        from_hub = spec.source == "hub" and where == spec.location
        kwargs = {"local_files_only": settings.hf_offline() or not from_hub}
        if spec.revision:
            kwargs["revision"] = spec.revision
        cls = Wav2Vec2ForCTC if spec.kind == "ctc" else Wav2Vec2ForPreTraining
        from safetensors import SafetensorError

        try:
            # float32 whatever the file stores (transformers 5 loads dtype="auto": an fp16 file would run in
            # fp16 on the CPU); the requested dtype is applied below
            model = cls.from_pretrained(where, dtype=torch.float32, **kwargs)
            fe = Wav2Vec2FeatureExtractor.from_pretrained(where, **kwargs)
        except SafetensorError as exc:  # a truncated or overwritten weights file
            raise AssetIntegrityError(
                f"{spec.name}: {Path(str(where)) / 'model.safetensors'} cannot be read ({exc}); the file is damaged "
                f"or incomplete — delete it and fetch it again (workbench fetch {spec.name}) or re-export the "
                f"checkpoint") from exc
        except (OSError, ValueError, EnvironmentError) as exc:
            if _is_refused_pickle(exc):
                raise _refused_pickle(spec, where) from None
            raise _unavailable(spec, exc) from exc
        except Exception as exc:  # noqa: BLE001 - a pickled pytorch_model.bin refused by torch.load(weights_only)
            if not _is_refused_pickle(exc):
                raise
            raise _refused_pickle(spec, where) from None
        tok = None
        if spec.kind == "ctc":
            try:
                tok = Wav2Vec2CTCTokenizer.from_pretrained(where, **kwargs)
            except (OSError, ValueError) as exc:
                raise _unavailable(spec, exc) from exc
        snapshot = Path(where) if not from_hub else Path(
            str(assets.hf_cached_file(spec.location, "config.json", spec.revision) or where)).parent
        revision = _revision_of(snapshot, spec)

    model.eval()
    if dtype == "int8":
        import warnings

        with warnings.catch_warnings():  # torch 2.x deprecates torch.ao eager quantization; it still works
            warnings.filterwarnings("ignore", message=r"torch\.ao\.quantization is deprecated",
                                    category=DeprecationWarning)
            warnings.filterwarnings("ignore", message=r"torch\.quantize_per_tensor", category=UserWarning)
            model = torch.ao.quantization.quantize_dynamic(model, {torch.nn.Linear}, dtype=torch.qint8)
    elif dtype in ("float16", "bfloat16"):
        model = model.to(getattr(torch, dtype))
    model = model.to(device)
    return Wav2Vec2Bundle(spec=spec, model=model, feature_extractor=fe, tokenizer=tok, device=device,
                          dtype=dtype, revision=revision, source_path=str(where))
