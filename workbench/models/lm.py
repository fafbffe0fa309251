"""KenLM n-gram language models (kind ``lm``): locate, load once through the registry, name a path.

An LM is an ARPA text file or a KenLM binary (``build_binary``); the registry loads it with
``kenlm.Model`` (query only) and keeps it in its LRU like any model.  Beam search
(:mod:`workbench.asr.decoding`) reads the loaded :class:`NgramLM`: the KenLM model, its word
list (read from the ARPA unigrams; binaries carry none) and its letter case.  The beam-search
weights tuned for an LM live beside its file, in ``<stem>.decoding.json`` (:func:`tuned_weights`).
"""
from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import AssetIntegrityError, ModelNotAvailableError
from .specs import ModelSpec

LM_SUFFIXES = (".arpa", ".bin", ".binary", ".klm", ".lm")
SPECIAL_WORDS = {"<s>", "</s>", "<unk>"}
INSTALL_HINT = "pip install kenlm==0.3.0 (or pip install 'workbench[lm]')"


@dataclass
class NgramLM:
    """A loaded KenLM model and what the decoder needs to know about it."""

    name: str
    path: Path
    model: Any = field(repr=False)  # kenlm.Model
    unigrams: frozenset[str] | None = field(default=None, repr=False)  # None: a binary file
    order: int = 0
    upper: bool = True  # words written in upper case (as the wav2vec2-base-960h vocabulary)

    @property
    def nbytes(self) -> int:
        return int(self.path.stat().st_size)


def tuned_path(path: Path) -> Path:
    """The sidecar file of an LM file that records its tuned beam-search weights: ``<stem>.decoding.json``."""
    path = Path(path)
    name = path.name
    for suffix in (".arpa.gz", *LM_SUFFIXES):
        if name.endswith(suffix):
            name = name[: -len(suffix)]
            break
    return path.with_name(name + ".decoding.json")


def tuned_weights(path: Path | None) -> dict | None:
    """``{"alpha": .., "beta": ..}`` tuned for the LM file at ``path`` (its sidecar), or None.

    The sidecar is written by a tuning run on a development set (``python -m workbench.recipe.dev
    --tune`` for ``demo-lm``); a file that does not parse as such is an error that names it."""
    if path is None:
        return None
    side = tuned_path(path)
    if not side.is_file():
        return None
    try:
        data = json.loads(side.read_text(encoding="utf-8"))
        return {"alpha": float(data["alpha"]), "beta": float(data["beta"])}
    except (ValueError, KeyError, TypeError) as exc:
        raise AssetIntegrityError(f"{side}: not a decoding-weights file ({exc}); it needs numbers \"alpha\" and "
                                  f"\"beta\"; delete it to use pyctcdecode's defaults, or rewrite it by tuning "
                                  "(python -m workbench.recipe.dev --tune)") from exc


def locate(spec: ModelSpec) -> Path | None:
    """The LM file of a spec: ``<folder>/<filename>``, the path itself, or the one LM file in a folder."""
    base = spec.local_dir
    if base is None:
        return None
    if spec.filename:
        base = base / spec.filename
    if base.is_file():
        return base
    if base.is_dir():
        found = sorted(p for p in base.iterdir() if p.suffix in LM_SUFFIXES or p.name.endswith(".arpa.gz"))
        return found[0] if len(found) == 1 else None
    return None


def read_arpa_unigrams(path: Path) -> frozenset[str]:
    """The words of an ARPA file's ``\\1-grams:`` section (``<s>``, ``</s>``, ``<unk>`` left out)."""
    words: set[str] = set()
    inside = False
    with open(path, encoding="utf-8", errors="replace") as f:
        for line in f:
            line = line.strip()
            if line == "\\1-grams:":
                inside = True
            elif inside and (line.startswith("\\") or not line and words):
                break
            elif inside and line:
                parts = line.split()
                if len(parts) >= 2 and parts[1] not in SPECIAL_WORDS:
                    words.add(parts[1])
    return frozenset(words)


def _is_arpa(path: Path) -> bool:
    with open(path, "rb") as f:
        head = f.read(4096).lstrip()
    return head.startswith(b"\\data\\")


def _upper(model, unigrams: frozenset[str] | None) -> bool:
    """Whether the LM writes words in upper case (checked on its words, or on common words)."""
    if unigrams:
        cased = [w for w in list(unigrams)[:2000] if w.upper() != w.lower()]
        return sum(w.isupper() for w in cased) >= len(cased) / 2
    probes = ("THE", "AND", "OF", "TO", "A", "IN", "IS", "IT")
    return sum(w in model for w in probes) >= sum(w.lower() in model for w in probes)


def _reason(exc: Exception) -> str:
    """KenLM's own words from its exception (after the C++ source location), short."""
    import re

    text = " ".join(str(exc.__cause__ or exc).split())
    match = re.search(r"threw \w+\.?\s*(.*)", text)
    reason = (match.group(1) if match and match.group(1) else text).rstrip(")")
    return reason[:200] or exc.__class__.__name__


def load_lm(spec: ModelSpec) -> NgramLM:
    """Load the KenLM model of ``spec`` (a clear error for a missing or unreadable file)."""
    path = locate(spec)
    if path is None:
        where = spec.local_dir if spec.local_dir is None or not spec.filename else spec.local_dir / spec.filename
        raise ModelNotAvailableError(
            f"{spec.name}: no language model file at {where}; give the path of an ARPA file or KenLM binary "
            "(lm='path/to/4-gram.arpa'), or rebuild the demo LM with `python -m workbench.recipe.lm`")
    try:
        import kenlm
    except ImportError as exc:
        raise ModelNotAvailableError(f"{spec.name}: loading an n-gram LM needs KenLM: {INSTALL_HINT}") from exc
    try:
        config = kenlm.Config()
        config.show_progress = False
        model = kenlm.Model(str(path), config)
    except Exception as exc:  # kenlm raises OSError/RuntimeError with its parser's message
        raise AssetIntegrityError(
            f"{path}: KenLM cannot read this file as a language model ({_reason(exc)}); give an ARPA file "
            "(text starting with \\data\\) or a KenLM binary made by build_binary, for example the demo LM "
            "rebuilt with `python -m workbench.recipe.lm`") from exc
    unigrams = read_arpa_unigrams(path) if _is_arpa(path) else None
    return NgramLM(name=spec.name, path=path, model=model, unigrams=unigrams, order=int(model.order),
                   upper=_upper(model, unigrams))


def lm_name_for(registry, value: str | os.PathLike) -> str:
    """The registry name for an ``lm=`` argument: a registered name as is, or a path to an LM file,
    registered (kind ``lm``) under its file name on the fly.  A path that does not exist is an error
    that says so; other unknown names fail in ``registry.spec`` with the close matches listed."""
    text = os.fspath(value)
    if text in registry.names(kind="lm") or text in registry.names():
        return text
    try:
        return registry.spec(text).name
    except Exception:
        pass
    path = Path(text).expanduser()
    if not path.exists():
        if path.suffix in LM_SUFFIXES or os.sep in text:
            raise ModelNotAvailableError(
                f"lm={text!r}: no such file; give the path of an ARPA file or KenLM binary, or a registry name "
                f"of kind lm ({', '.join(registry.names(kind='lm')) or 'none registered'})")
        return text
    resolved = str(path.resolve())
    for name in registry.names(kind="lm"):
        if registry.spec(name).location == resolved:
            return name
    name = path.name if path.name not in registry.names() else resolved
    registry.register(name, path, kind="lm", description=f"n-gram LM file {path}", replace_existing=True)
    return name
