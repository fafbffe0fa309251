"""Looking inside Kokoro's voice packs: catalogue, similarity, a 2-D map, and how a pack changes with length.

A pack is [510, 256]: row ``i`` is the style vector Kokoro uses for an input of ``i + 1``
phoneme characters, so every comparison here is *at a chosen row* (default
:data:`DEFAULT_ROW`, a typical sentence length) or across rows.  The 256 dimensions are two
halves with different jobs (Kokoro's ``KModel.forward``):

* ``[:128]`` — **timbre**: the decoder's style (iSTFTNet vocoder: voice quality, formants).
* ``[128:]`` — **prosody**: the prosody predictor's style (durations, pitch F0, energy).

``part="timbre" | "prosody" | "all"`` picks which half a function looks at.  Blends are weighted
sums of packs, so with PCA (a linear map) a blend lands exactly at the weighted mean of its parts;
UMAP places it with ``transform`` (an approximation).
"""
from __future__ import annotations

import html
from dataclasses import dataclass, field

import numpy as np

from ..errors import ModelNotAvailableError, VoiceError
from ..models.registry import ModelRegistry, resolve
from ..models.specs import KOKORO_VOICES
from ..models.voices import PROSODY, TIMBRE, Voice, parse_blend, voice_gender, voice_language

DEFAULT_ROW = 99  # the style row for a 100-character phoneme string (~ a 15-word sentence)
PARTS = {"all": slice(0, 256), "timbre": TIMBRE, "prosody": PROSODY}


def _part(part: str) -> slice:
    if part not in PARTS:
        raise VoiceError(f"part={part!r}; use 'all', 'timbre' (first 128 dims) or 'prosody' (last 128 dims)")
    return PARTS[part]


def _check_row(row: int, rows: int = 510) -> int:
    if not isinstance(row, (int, np.integer)) or not 0 <= int(row) < rows:
        raise VoiceError(f"row={row!r} must be an integer in 0..{rows - 1} (row i is used for i + 1 phonemes)")
    return int(row)


def voice_catalog(*, registry: ModelRegistry | None = None):
    """Every known voice: name, language, gender, source (asset path / HF cache / missing), available."""
    import pandas as pd

    from ..models import assets
    from ..models.specs import KOKORO_HUB_REPO
    from ..models.voices import local_voice_names

    rows = []
    for name in sorted(set(KOKORO_VOICES) | set(local_voice_names())):
        path = assets.find_asset(f"kokoro/voices/{name}.pt", f"voices/{name}.pt")
        source = "asset path" if path is not None else None
        if path is None:
            path = assets.hf_cached_file(KOKORO_HUB_REPO, f"voices/{name}.pt")
            source = "hf cache" if path is not None else "missing"
        rows.append({"name": name, "language": voice_language(name), "gender": voice_gender(name),
                     "source": source, "available": path is not None, "path": str(path) if path else "",
                     "release": "v1.0" if name in KOKORO_VOICES else "local"})
    return pd.DataFrame(rows, columns=["name", "language", "gender", "source", "available", "path", "release"])


def available_voices(*, language: str | None = None, registry: ModelRegistry | None = None) -> list[str]:
    """Names of the voices that load offline (optionally of one language, e.g. 'en-us')."""
    cat = voice_catalog(registry=registry)
    cat = cat[cat.available]
    if language is not None:
        cat = cat[cat.language == language]
    return cat.name.tolist()


def _vectors(names: list[str], reg: ModelRegistry, row: int, part: str) -> np.ndarray:
    sl = _part(part)
    return np.stack([reg.voice(n).pack[row, sl] for n in names]).astype(np.float64)


def _names(names: list[str] | None, reg: ModelRegistry) -> list[str]:
    names = list(names) if names is not None else available_voices(registry=reg)
    if not names:
        raise ModelNotAvailableError("no voice packs found; point WORKBENCH_ASSET_PATH at a folder with kokoro/voices/")
    return names


def cosine_matrix(vectors: np.ndarray) -> np.ndarray:
    unit = vectors / np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-12)
    return np.clip(unit @ unit.T, -1.0, 1.0)


def similarity_matrix(names: list[str] | None = None, *, row: int = DEFAULT_ROW, part: str = "all",
                      registry: ModelRegistry | None = None):
    """Cosine similarity between voices' style vectors at pack row ``row`` (a DataFrame, names x names)."""
    import pandas as pd

    reg = resolve(registry)
    names = _names(names, reg)
    row = _check_row(row)
    sim = cosine_matrix(_vectors(names, reg, row, part))
    frame = pd.DataFrame(sim, index=names, columns=names)
    frame.attrs.update(row=row, part=part)
    return frame


@dataclass
class VoiceMap:
    """2-D coordinates of voices (and blends) at one style row."""

    coords: object  # DataFrame: name, x, y, language, gender, kind ('voice' | 'blend')
    method: str
    row: int
    part: str
    explained: list[float] = field(default_factory=list)  # PCA: variance ratio of the two axes
    seed: int = 0

    def to_frame(self):
        return self.coords

    def position(self, name: str) -> tuple[float, float]:
        hit = self.coords[self.coords.name == name]
        if hit.empty:
            raise VoiceError(f"{name!r} is not on this map; add it with voice_map(..., blends=[...])")
        return float(hit.x.iloc[0]), float(hit.y.iloc[0])

    def plot(self, ax=None, *, highlight: str | None = None):
        from ..plots.voices import plot_voice_map

        return plot_voice_map(self, ax=ax, highlight=highlight)

    def _repr_html_(self) -> str:
        var = f" · explained variance {sum(self.explained):.0%}" if self.explained else ""
        return (f"<b>voice map</b> ({html.escape(self.method)}, row {self.row}, {self.part}){var}"
                + self.coords.to_html(index=False, float_format="%.3f"))


def voice_map(names: list[str] | None = None, *, row: int = DEFAULT_ROW, method: str = "pca", part: str = "all",
              blends: list[str | dict[str, float]] | None = None, seed: int = 0,
              registry: ModelRegistry | None = None, n_neighbors: int = 10) -> VoiceMap:
    """Project voices to 2-D at one style row (PCA by default, or seeded UMAP) and place blends on it."""
    import pandas as pd

    reg = resolve(registry)
    names = _names(names, reg)
    row = _check_row(row)
    if method not in ("pca", "umap"):
        raise VoiceError(f"method={method!r}; use 'pca' or 'umap'")
    if len(names) < 3:
        raise VoiceError(f"a voice map needs at least 3 voices, got {len(names)}")
    X = _vectors(names, reg, row, part)
    blend_rows, blend_labels = [], []
    sl = _part(part)
    for spec in blends or []:
        weights, _ = parse_blend(spec)
        vec = sum(w * reg.voice(n).pack[row, sl].astype(np.float64) for n, w in weights.items())
        blend_rows.append(vec)
        blend_labels.append(",".join(f"{n}:{w:.2g}" for n, w in weights.items()))
    explained: list[float] = []
    if method == "pca":
        from sklearn.decomposition import PCA

        fit = PCA(n_components=2, random_state=seed).fit(X)
        xy = fit.transform(X)
        bxy = fit.transform(np.stack(blend_rows)) if blend_rows else np.zeros((0, 2))
        explained = [float(v) for v in fit.explained_variance_ratio_]
    else:
        import umap

        fit = umap.UMAP(n_components=2, n_neighbors=min(n_neighbors, len(names) - 1), random_state=seed,
                        metric="cosine", init="random")
        xy = fit.fit_transform(X)
        bxy = fit.transform(np.stack(blend_rows)) if blend_rows else np.zeros((0, 2))
    rows = [{"name": n, "x": float(x), "y": float(y), "language": voice_language(n), "gender": voice_gender(n),
             "kind": "voice"} for n, (x, y) in zip(names, xy)]
    for label, (x, y), spec in zip(blend_labels, bxy, blends or []):
        lead = max(parse_blend(spec)[0].items(), key=lambda kv: kv[1])[0]
        rows.append({"name": label, "x": float(x), "y": float(y), "language": voice_language(lead),
                     "gender": voice_gender(lead), "kind": "blend"})
    coords = pd.DataFrame(rows, columns=["name", "x", "y", "language", "gender", "kind"])
    return VoiceMap(coords=coords, method=method, row=row, part=part, explained=explained, seed=seed)


@dataclass
class RowProfile:
    """How one pack changes with utterance length, row by row, for each half."""

    voice: str
    frame: object  # DataFrame: row, phonemes, norm_timbre, norm_prosody, cos0_timbre, cos0_prosody, step_timbre, step_prosody

    def to_frame(self):
        return self.frame

    def summary(self) -> dict:
        f = self.frame
        return {"voice": self.voice, "min_cos0_timbre": float(f.cos0_timbre.min()),
                "min_cos0_prosody": float(f.cos0_prosody.min()),
                "norm_range_timbre": float(f.norm_timbre.max() - f.norm_timbre.min()),
                "norm_range_prosody": float(f.norm_prosody.max() - f.norm_prosody.min())}

    def plot(self, ax=None):
        from ..plots.voices import plot_row_profile

        return plot_row_profile(self, ax=ax)

    def _repr_html_(self) -> str:
        s = self.summary()
        return (f"<b>{html.escape(self.voice)}</b>: lowest cosine to row 0 — timbre {s['min_cos0_timbre']:.3f}, "
                f"prosody {s['min_cos0_prosody']:.3f}" + self.frame.iloc[::51].to_html(index=False, float_format="%.3f"))


def row_profile(voice: str | Voice, *, registry: ModelRegistry | None = None) -> RowProfile:
    """Per row: the L2 norm of each half, its cosine to row 0 and to the previous row."""
    import pandas as pd

    reg = resolve(registry)
    v = voice if isinstance(voice, Voice) else reg.voice(voice)
    pack = v.pack.astype(np.float64)
    out = {"row": np.arange(len(pack)), "phonemes": np.arange(1, len(pack) + 1)}
    for label, sl in (("timbre", TIMBRE), ("prosody", PROSODY)):
        half = pack[:, sl]
        norms = np.linalg.norm(half, axis=1)
        unit = half / np.maximum(norms[:, None], 1e-12)
        out[f"norm_{label}"] = norms
        out[f"cos0_{label}"] = unit @ unit[0]
        out[f"step_{label}"] = np.concatenate([[1.0], np.sum(unit[1:] * unit[:-1], axis=1)])
    frame = pd.DataFrame(out, columns=["row", "phonemes", "norm_timbre", "norm_prosody", "cos0_timbre",
                                       "cos0_prosody", "step_timbre", "step_prosody"])
    return RowProfile(voice=v.name, frame=frame)
