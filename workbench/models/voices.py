"""Kokoro voice packs: loading by name, blends, and the facts each pack carries.

A pack is a float32 array [510, 256] (stored as [510, 1, 256]): row i is the style vector
used for an input of i + 1 phoneme characters, so a voice is really 510 slightly different
style vectors, one per utterance length.  In Kokoro's ``KModel.forward`` the vector is cut
in two halves: ``ref_s[:, :128]`` conditions the decoder (the iSTFTNet vocoder: *timbre*)
and ``ref_s[:, 128:]`` the prosody predictor (durations, pitch F0 and energy: *prosody*).
A blend is a weighted sum of packs, row by row, as Kokoro's pipeline averages voices.
"""
from __future__ import annotations

import difflib
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from . import assets
from ..errors import VoiceError
from .specs import KOKORO_HUB_REPO, KOKORO_VOICES, VOICE_LANGUAGES

PACK_ROWS = 510
STYLE_DIM = 256
TIMBRE = slice(0, 128)
PROSODY = slice(128, 256)


@dataclass(frozen=True)
class Voice:
    """A voice pack with its name, language and provenance."""

    name: str
    pack: np.ndarray  # [510, 256] float32
    language: str
    gender: str
    source: str

    @property
    def british(self) -> bool:
        return self.language == "en-gb"

    @property
    def timbre(self) -> np.ndarray:
        """The decoder half of every row, [rows, 128]."""
        return self.pack[:, TIMBRE]

    @property
    def prosody(self) -> np.ndarray:
        """The prosody-predictor half of every row, [rows, 128]."""
        return self.pack[:, PROSODY]

    def style(self, num_tokens: int) -> np.ndarray:
        """The style row Kokoro's reference uses for ``num_tokens`` phoneme tokens (row n - 1)."""
        row = min(max(int(num_tokens), 1), len(self.pack)) - 1
        return self.pack[row]


def voice_language(name: str) -> str:
    return VOICE_LANGUAGES.get(name[:1], "unknown")


def voice_gender(name: str) -> str:
    return {"f": "female", "m": "male"}.get(name[1:2], "unknown")


def local_voice_names() -> list[str]:
    """Names of the voice packs found on the asset path (no network)."""
    names: set[str] = set()
    for folder in ("kokoro/voices", "voices"):
        found = assets.find_asset(folder)
        if found is not None and found.is_dir():
            try:
                names.update(p.stem for p in found.glob("*.pt"))
            except OSError:
                continue
    return sorted(names)


_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")


def is_voice_path(value: str) -> bool:
    """A voice given explicitly as a file: it ends in ``.pt`` (``./mine.pt``, ``/data/voices/x.pt``)."""
    return str(value).strip().lower().endswith(".pt")


def check_voice_name(name: str) -> str:
    """A voice *name* is a plain name (``af_heart``): no path separators, no ``..``, no leading dot.

    Names resolve only inside the asset path and the Hugging Face cache; a pack elsewhere must be
    given as a path ending in ``.pt``.
    """
    if not _NAME.match(name) or ".." in name:
        raise VoiceError(f"voice name {name!r} is not a plain name (letters, digits, '_', '-', '.'; no '/', '\\' "
                         "or '..'); names are looked up only on the asset path and in the Hugging Face cache. To "
                         "use a voice pack file, give its path ending in .pt (e.g. ./voices/mine.pt)")
    return name


def _inside(path: Path, roots: list[Path]) -> bool:
    real = path.resolve()
    return any(real == r or r in real.parents for r in (root.resolve() for root in roots))


def locate_voice(name: str, *, allow_download: bool = False) -> Path:
    """The ``.pt`` file of a voice: asset path, HF cache, then (if allowed) the hub.

    ``name`` ending in ``.pt`` is an explicit path to a pack (it must exist); any other name must
    be a plain name (:func:`check_voice_name`) and is looked up only in those places.
    """
    from .. import settings

    if is_voice_path(name):
        path = Path(name).expanduser()
        if not path.is_file():
            raise VoiceError(f"voice pack {name!r}: no such file; check the path, or give a voice name like "
                             "'af_heart'")
        return path
    check_voice_name(name)
    found = assets.find_asset(f"kokoro/voices/{name}.pt", f"voices/{name}.pt", f"{name}.pt")
    if found is not None and not _inside(found, list(settings.asset_path())):
        found = None  # a link out of the asset folder is not a voice of it
    if found is not None:
        return found
    cached = assets.hf_cached_file(KOKORO_HUB_REPO, f"voices/{name}.pt")
    if cached is not None:
        return cached
    known = sorted(set(KOKORO_VOICES) | set(local_voice_names()))
    if name not in known:
        close = difflib.get_close_matches(name, known, n=5, cutoff=0.5)
        hint = f" Close matches: {', '.join(close)}." if close else f" Known voices: {', '.join(known[:12])}, ..."
        raise VoiceError(f"unknown voice {name!r}.{hint}")
    if allow_download:
        return assets.hf_download(KOKORO_HUB_REPO, f"voices/{name}.pt", what=name)
    return _missing(name)


def _missing(name: str) -> Path:
    from ..errors import ModelNotAvailableError

    raise ModelNotAvailableError(
        f"voice {name!r}: not found on the asset path ({assets.asset_path_report()}) nor in the Hugging Face "
        f"cache. Put {name}.pt in <asset folder>/kokoro/voices/, or run `workbench fetch {name}` on a machine "
        "with internet."
    )


def load_voice_file(path: Path, name: str) -> Voice:
    """Read a voice pack with ``torch.load(weights_only=True)`` and check its shape."""
    import torch

    try:
        tensor = torch.load(str(path), map_location="cpu", weights_only=True)
    except Exception as exc:
        from ..errors import AssetIntegrityError

        raise AssetIntegrityError(f"voice {name!r}: {path} is not a readable voice pack ({exc}); "
                                  "replace it with the release file.") from exc
    pack = np.asarray(tensor.detach().float().numpy(), dtype=np.float32).reshape(-1, STYLE_DIM)
    if pack.shape[0] < 1:
        raise VoiceError(f"voice {name!r}: {path} holds no style rows")
    if not np.isfinite(pack).all():
        raise VoiceError(f"voice {name!r}: {path} holds NaN or inf values; replace it with the release file")
    short = Path(name).stem if is_voice_path(name) else name
    return Voice(name=name, pack=pack, language=voice_language(short), gender=voice_gender(short),
                 source=str(path))


def parse_blend(spec: str | dict[str, float]) -> tuple[dict[str, float], str | None]:
    """Parse ``"af_bella:0.7,af_sky:0.3"`` or a dict into normalised weights.

    Returns the weights (summing to 1) and a note when given weights had to be normalised.
    Names without weights (``"af_bella,af_sky"``) are averaged, as Kokoro's pipeline does.
    """
    explicit = True
    if isinstance(spec, dict):
        try:
            weights = {str(k).strip(): float(v) for k, v in spec.items()}
        except (TypeError, ValueError) as exc:
            raise VoiceError(f"blend weights must be numbers, got {spec}") from exc
    else:
        explicit = ":" in str(spec)
        weights = {}
        for part in str(spec).split(","):
            part = part.strip()
            if not part:
                continue
            name, _, w = part.partition(":")
            try:
                weights[name.strip()] = weights.get(name.strip(), 0.0) + (float(w) if w else 1.0)
            except ValueError as exc:
                raise VoiceError(f"blend weight {w!r} for {name!r} is not a number; write 'name:0.5,other:0.5'") from exc
    if not weights:
        raise VoiceError("empty voice blend; give a name like 'af_bella' or 'af_bella:0.7,af_sky:0.3'")
    if "" in weights:
        raise VoiceError(f"a blend entry has no voice name ({spec!r}); write 'af_bella:0.7,af_sky:0.3'")
    if any(not np.isfinite(w) or w < 0 for w in weights.values()):
        raise VoiceError(f"blend weights must be finite and non-negative, got {weights}")
    total = float(sum(weights.values()))
    if not np.isfinite(total) or total <= 0:
        raise VoiceError(f"blend weights sum to {total}; give finite weights with a positive sum, "
                         "e.g. 'af_bella:0.7,af_sky:0.3'")
    normalised = {k: v / total for k, v in weights.items()}
    new_total = sum(normalised.values())
    if not all(np.isfinite(w) for w in normalised.values()) or not abs(new_total - 1.0) < 1e-6:
        raise VoiceError(f"blend weights {weights} cannot be normalised (they sum to {new_total} afterwards); "
                         "give weights of ordinary size, e.g. 'af_bella:0.7,af_sky:0.3'")
    note = None
    if explicit and abs(total - 1.0) > 1e-6:
        shown = ", ".join(f"{k}:{v:.3g}" for k, v in normalised.items())
        note = f"blend weights summed to {total:g}, not 1; normalised to {shown}"
    return normalised, note


def blend(voices: dict[str, Voice], weights: dict[str, float]) -> Voice:
    """Weighted sum of packs (as Kokoro's pipeline mixes voices); language of the heaviest."""
    rows = {voices[n].pack.shape for n in weights}
    if len(rows) > 1:
        raise VoiceError(f"cannot blend packs of different shapes {sorted(rows)}")
    pack = sum(weights[n] * voices[n].pack for n in weights)
    lead = max(weights, key=weights.get)
    name = ",".join(f"{n}:{weights[n]:.3g}" for n in weights)
    return Voice(name=name, pack=np.asarray(pack, dtype=np.float32), language=voices[lead].language,
                 gender=voices[lead].gender, source="blend")
