"""``workbench codebook`` and ``workbench embed`` on a tiny manifest with the random checkpoints."""
from __future__ import annotations

import json

import pandas as pd
import pytest

from workbench.cli import main


@pytest.fixture(scope="module")
def manifest(eval_corpus, tmp_path_factory):
    path = tmp_path_factory.mktemp("cli-repr") / "manifest.jsonl"
    rows = [{"audio_filepath": u.audio, "text": u.text, "speaker": u.speaker, "id": u.id} for u in eval_corpus][:3]
    path.write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    return path


def test_codebook_command(tiny_dirs, manifest, tmp_path, capsys):
    out = tmp_path / "codebook"
    rc = main(["codebook", "--model", str(tiny_dirs["pretraining"]), "--ctc", str(tiny_dirs["ctc"]),
               "--data", str(manifest), "--out", str(out)])
    assert rc == 0
    usage = pd.read_csv(out / "usage.csv")
    assert list(usage["group"].astype(str)) == ["0", "1", "sum"]
    data = json.loads((out / "usage.json").read_text())
    frames = data["summary"]["frames"]
    assert sum(data["counts"][0]) == frames and data["summary"]["utterances"] == 3
    assert usage.loc[2, "hard_perplexity"] == pytest.approx(sum(data["summary"]["hard_perplexity"]))
    assert data["provenance"]["model"] == "pretraining" and data["provenance"]["versions"]
    assert (out / "by_speaker.csv").exists()
    for name in ("histogram_g0.png", "histogram_g1.png", "perplexity.png", "code_char_heatmap.png"):
        assert (out / name).read_bytes().startswith(b"\x89PNG")
    nmi = json.loads((out / "code_chars.json").read_text())["nmi"]
    assert [r["group"] for r in nmi] == ["0", "1", "pair"]
    assert "NMI" in capsys.readouterr().out


def test_codebook_command_on_ctc_model_fails_clearly(tiny_dirs, manifest, tmp_path, capsys):
    rc = main(["codebook", "--model", str(tiny_dirs["ctc"]), "--data", str(manifest), "--out", str(tmp_path)])
    assert rc == 2
    assert "no quantizer" in capsys.readouterr().err


def test_embed_command(tiny_dirs, manifest, tmp_path):
    out = tmp_path / "embed"
    rc = main(["embed", "--model", str(tiny_dirs["ctc"]), "--data", str(manifest), "--layer", "2",
               "--out", str(out), "--method", "pca"])
    assert rc == 0
    df = pd.read_csv(out / "projection.csv", keep_default_na=False)
    assert {"utterance", "frame", "char", "word", "x", "y"} <= set(df.columns)
    assert df["utterance"].nunique() == 3
    meta = json.loads((out / "projection.json").read_text())
    assert meta["method"] == "pca" and meta["points"] == len(df) and meta["provenance"]["layer"] == 2
    assert (out / "scatter.png").read_bytes().startswith(b"\x89PNG")
