"""Checkpoint averaging (``workbench.recipe.average``): the shipped demo recogniser is such an average."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

ARCH = {"hidden_size": 32, "num_hidden_layers": 1, "num_attention_heads": 2, "intermediate_size": 64,
        "conv_dim": [16] * 7, "num_conv_pos_embedding_groups": 4, "num_conv_pos_embeddings": 16, "mask_time_prob": 0.0}


@pytest.fixture(scope="module")
def two(tmp_path_factory) -> tuple[Path, Path]:
    from workbench.recipe.build import new_model, save_model

    root = tmp_path_factory.mktemp("average")
    return (save_model(new_model("ctc", seed=1, **ARCH), root / "a", kind="ctc"),
            save_model(new_model("ctc", seed=2, **ARCH), root / "b", kind="ctc"))


def _state(folder: Path) -> dict:
    from safetensors.numpy import load_file

    return load_file(str(folder / "model.safetensors"))


def test_weighted_average_is_the_weighted_mean_of_every_tensor(two, tmp_path):
    from workbench.recipe.average import average_checkpoints

    a, b = two
    out = average_checkpoints([(a, 1.0), (b, 3.0)], tmp_path / "avg")
    sa, sb, so = _state(a), _state(b), _state(out)
    assert so.keys() == sa.keys()
    floats = [k for k in sa if np.issubdtype(sa[k].dtype, np.floating)]
    assert len(floats) > 10
    for key in floats:
        np.testing.assert_allclose(so[key], 0.25 * sa[key] + 0.75 * sb[key], rtol=1e-6, atol=1e-7)
    differs = [k for k in floats if not np.array_equal(sa[k], sb[k])]
    assert differs and not np.array_equal(so[differs[0]], sa[differs[0]])
    record = json.loads((out / "average.json").read_text())
    assert [p["weight"] for p in record["parts"]] == [0.25, 0.75]
    import hashlib
    assert record["parts"][1]["sha256"] == hashlib.sha256((b / "model.safetensors").read_bytes()).hexdigest()
    assert json.loads((out / "config.json").read_text()) == json.loads((a / "config.json").read_text())


def test_an_average_loads_and_runs_through_the_registry(two, tmp_path):
    import workbench as wb
    from workbench.models.registry import ModelRegistry
    from workbench.recipe.average import average_checkpoints

    out = average_checkpoints([(two[0], 1.0), (two[1], 1.0)], tmp_path / "half")
    reg = ModelRegistry()
    audio = np.sin(np.linspace(0, 400 * np.pi, 16_000)).astype("float32") * 0.1
    name = reg.name_for(out)
    assert reg.spec(name).kind == "ctc"
    mine = wb.analyze([audio], name, registry=reg, progress=False)[0].log_probs
    first = wb.analyze([audio], reg.name_for(two[0]), registry=reg, progress=False)[0].log_probs
    assert mine.shape == first.shape == (49, 32)
    np.testing.assert_allclose(np.exp(mine).sum(-1), 1.0, atol=1e-4)
    assert np.abs(mine - first).max() > 1e-3  # another function than either part
    assert reg.get(name).config.hidden_size == ARCH["hidden_size"]


def test_the_average_of_a_checkpoint_with_itself_is_that_checkpoint(two, tmp_path):
    from workbench.recipe.average import average_checkpoints

    out = average_checkpoints([(two[0], 2.0), (two[0], 5.0)], tmp_path / "same")
    sa, so = _state(two[0]), _state(out)
    assert all(np.array_equal(sa[k], so[k]) for k in sa)


def test_the_output_may_be_one_of_the_parts(two, tmp_path):
    import shutil

    from workbench.recipe.average import average_checkpoints

    target = Path(shutil.copytree(two[0], tmp_path / "in-place"))
    expected = {k: 0.5 * v + 0.5 * _state(two[1])[k] for k, v in _state(two[0]).items()}
    average_checkpoints([(target, 1.0), (two[1], 1.0)], target)
    got = _state(target)
    for key, value in expected.items():
        np.testing.assert_allclose(got[key], value, rtol=1e-6, atol=1e-7)


def test_other_architectures_and_bad_parts_are_refused_with_the_reason(two, tmp_path):
    from workbench.recipe.average import average_checkpoints
    from workbench.recipe.build import new_model, save_model

    deeper = save_model(new_model("ctc", seed=3, **{**ARCH, "num_hidden_layers": 2}), tmp_path / "deeper", kind="ctc")
    with pytest.raises(ValueError, match="only checkpoints of one architecture"):
        average_checkpoints([(two[0], 1.0), (deeper, 1.0)], tmp_path / "x")
    wider = save_model(new_model("ctc", seed=3, **{**ARCH, "intermediate_size": 96}), tmp_path / "wider", kind="ctc")
    with pytest.raises(ValueError, match=r"is \(96,\) torch.float32, .* has \(64,\) torch.float32: not one architecture"):
        average_checkpoints([(two[0], 1.0), (wider, 1.0)], tmp_path / "x")
    with pytest.raises(FileNotFoundError, match="no model.safetensors"):
        average_checkpoints([(two[0], 1.0), (tmp_path, 1.0)], tmp_path / "x")
    with pytest.raises(ValueError, match="weight 0.0 must be positive"):
        average_checkpoints([(two[0], 0.0)], tmp_path / "x")
    with pytest.raises(ValueError, match="at least one"):
        average_checkpoints([], tmp_path / "x")
    assert not (tmp_path / "x").exists()


def test_command_line_parts_take_optional_weights(two, tmp_path, capsys):
    from workbench.recipe.average import main, parse_part

    assert parse_part("runs/a:0.25") == (Path("runs/a"), 0.25)
    assert parse_part("runs/a") == (Path("runs/a"), 1.0)
    assert parse_part("C:/runs/a") == (Path("C:/runs/a"), 1.0)
    assert main([str(tmp_path / "cli"), f"{two[0]}:3", str(two[1])]) == 0
    record = json.loads((tmp_path / "cli" / "average.json").read_text())
    assert [p["weight"] for p in record["parts"]] == [0.75, 0.25]
    assert "the average of 2 checkpoints" in capsys.readouterr().out
    with pytest.raises(SystemExit, match="average: .*no model.safetensors"):
        main([str(tmp_path / "cli2"), str(two[0]), str(tmp_path / "missing")])
