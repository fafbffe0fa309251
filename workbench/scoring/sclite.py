"""NIST sclite (Debian package ``sctk``) as an independent check of our error counts.

``write_trn`` writes sclite's ``.trn`` format (``words (speaker_id)`` per line),
``run_sclite`` runs it on a reference/hypothesis pair, ``parse_rsum`` reads its raw-count
summary (``-o rsum``: counts, not percentages) and ``parse_pra`` its per-utterance
alignment dump (``-o pra``).  ``sclite_counts(score)`` runs sclite on the normalised texts
of a :class:`~workbench.scoring.CorpusScore` so the two can be compared.
Install: ``apt-get install -y sctk`` (binaries in ``/usr/lib/sctk/bin``, front end ``sctk``).
"""
from __future__ import annotations

import re
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Mapping

from ..errors import WorkbenchError

SCTK_BIN = Path("/usr/lib/sctk/bin")
_SAFE = re.compile(r"[^A-Za-z0-9]+")


def sclite_command() -> list[str] | None:
    """The command that runs sclite here, or None when sctk is not installed."""
    if shutil.which("sclite"):
        return [shutil.which("sclite")]
    if (SCTK_BIN / "sclite").exists():
        return [str(SCTK_BIN / "sclite")]
    if shutil.which("sctk"):
        return [shutil.which("sctk"), "sclite"]
    return None


def trn_ids(ids: list[str], speakers: Mapping[str, str | None] | None = None) -> dict[str, str]:
    """Safe sclite ids ``<speaker>_<n>`` for our utterance ids (sclite reads the speaker before '_')."""
    speakers = speakers or {}
    out = {}
    for n, uid in enumerate(ids):
        spk = _SAFE.sub("", str(speakers.get(uid) or "spk")).lower() or "spk"
        out[uid] = f"{spk}_{n:06d}"
    return out


def write_trn(path: str | Path, texts: Mapping[str, str], ids: Mapping[str, str]) -> Path:
    """One ``words (id)`` line per utterance, in ``ids`` order; parentheses in text are replaced."""
    path = Path(path)
    lines = []
    for uid, trn_id in ids.items():
        words = " ".join(str(texts.get(uid) or "").replace("(", " ").replace(")", " ").split())
        lines.append(f"{words} ({trn_id})")
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def run_sclite(ref_trn: str | Path, hyp_trn: str | Path, *, outputs: tuple[str, ...] = ("rsum", "pra"),
               timeout: float = 120) -> str:
    """sclite's report text for the given output kinds (printed to stdout)."""
    cmd = sclite_command()
    if cmd is None:
        raise WorkbenchError("NIST sclite is not installed; run `apt-get install -y sctk` (Debian/Ubuntu)")
    proc = subprocess.run([*cmd, "-r", str(ref_trn), "trn", "-h", str(hyp_trn), "trn", "-i", "rm",
                           "-o", *outputs, "stdout"], capture_output=True, text=True, timeout=timeout)
    if proc.returncode != 0:
        raise WorkbenchError(f"sclite failed (exit {proc.returncode}): {proc.stderr.strip() or proc.stdout[-500:]}")
    return proc.stdout


_ROW = re.compile(r"^\s*\|\s*([^|]+?)\s*\|\s*([\d.]+)\s+([\d.]+)\s*\|\s*([\d.]+)\s+([\d.]+)\s+([\d.]+)\s+([\d.]+)"
                  r"\s+([\d.]+)\s+([\d.]+)\s*\|")


def parse_rsum(text: str):
    """The rows of sclite's ``rsum`` table (speakers, Sum, Mean, S.D., Median) as a DataFrame of counts."""
    import pandas as pd

    rows = []
    for line in text.splitlines():
        m = _ROW.match(line)
        if m and m.group(1) not in ("SPKR",):
            vals = [float(v) for v in m.groups()[1:]]
            rows.append({"speaker": m.group(1), "sentences": vals[0], "words": vals[1], "correct": vals[2],
                         "substitutions": vals[3], "deletions": vals[4], "insertions": vals[5], "errors": vals[6],
                         "sentence_errors": vals[7]})
    if not rows:
        raise WorkbenchError("no summary table found in sclite's output; was it run with `-o rsum`?")
    return pd.DataFrame(rows)


_PRA_ID = re.compile(r"^id: \((.+)\)\s*$")
_PRA_SCORES = re.compile(r"^Scores: \(#C #S #D #I\)\s+(\d+)\s+(\d+)\s+(\d+)\s+(\d+)")


def parse_pra(text: str) -> dict[str, tuple[int, int, int, int]]:
    """Per-utterance (correct, substitutions, deletions, insertions) from sclite's ``pra`` dump."""
    out, current = {}, None
    for line in text.splitlines():
        m = _PRA_ID.match(line)
        if m:
            current = m.group(1)
            continue
        m = _PRA_SCORES.match(line)
        if m and current is not None:
            out[current] = tuple(int(v) for v in m.groups())
            current = None
    return out


@dataclass
class ScliteCounts:
    """sclite's totals and per-utterance counts, keyed back to our utterance ids."""

    totals: dict[str, int]  # words, correct, substitutions, deletions, insertions, errors, sentences
    per_utterance: dict[str, tuple[int, int, int, int]]  # uid -> (C, S, D, I)
    report: str


def sclite_counts(score, *, workdir: str | Path | None = None) -> ScliteCounts:
    """Run sclite on the normalised reference/hypothesis texts of a CorpusScore's scored rows."""
    s = score.scored
    uids = list(s["id"])
    ids = trn_ids(uids, dict(zip(s["id"], s["speaker"])))
    tmp = Path(workdir) if workdir else Path(tempfile.mkdtemp(prefix="wb-sclite-"))
    tmp.mkdir(parents=True, exist_ok=True)
    ref = write_trn(tmp / "ref.trn", dict(zip(s["id"], s["ref_norm"])), ids)
    hyp = write_trn(tmp / "hyp.trn", dict(zip(s["id"], s["hyp_norm"])), ids)
    report = run_sclite(ref, hyp)
    table = parse_rsum(report)
    total = table[table["speaker"] == "Sum"].iloc[0]
    back = {v.lower(): k for k, v in ids.items()}
    per = {back[k.lower()]: v for k, v in parse_pra(report).items() if k.lower() in back}
    totals = {k: int(total[k]) for k in ("sentences", "words", "correct", "substitutions", "deletions",
                                         "insertions", "errors", "sentence_errors")}
    if workdir is None:
        shutil.rmtree(tmp, ignore_errors=True)
    return ScliteCounts(totals=totals, per_utterance=per, report=report)
