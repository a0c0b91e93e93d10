"""`python -m vitdemo explain`: files, JSON summary, and one-line errors."""

from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image

from vitdemo.cli import main


@pytest.fixture
def photo(tmp_path):
    path = tmp_path / "photo.png"
    Image.fromarray(np.random.default_rng(0).integers(0, 256, (50, 70, 3), dtype=np.uint8)).save(path)
    return path


def test_vit_writes_grid_maps_overlays_and_summary(tiny_vit_dir, photo, tmp_path, capsys):
    out = tmp_path / "report"
    status = main(
        [
            "explain",
            str(photo),
            "--model",
            str(tiny_vit_dir),
            "--out",
            str(out),
            "--target",
            "square",
            "--json",
        ]
    )
    assert status == 0
    printed = json.loads(capsys.readouterr().out)
    assert printed == json.loads((out / "summary.json").read_text())
    assert printed["target"]["label"] == "square"
    assert [s["label"] for s in printed["top_k"]] and len(printed["top_k"]) == 3
    assert set(printed["maps"]) == {"cls", "rollout", "relevance", "gradcam"}
    assert set(printed["faithfulness"]) == set(printed["maps"])
    assert {"forward", "backward", "total"} <= set(printed["timings"])
    for name in printed["maps"]:
        peak = printed["maps"][name]["peak"]
        assert 0 <= peak["row"] < 64 and 0 <= peak["col"] < 64
        assert Image.open(out / f"map-{name}.png").size == (64, 64)
        assert Image.open(out / f"overlay-{name}.png").mode == "RGB"
    grid = Image.open(out / "attention-grid.png")
    assert grid.width > grid.height  # 2 layers × (3 heads + mean)
    assert np.array_equal(np.asarray(Image.open(out / "view.png")).shape, (64, 64, 3))


def test_resnet_text_output_lists_maps_and_unavailable(tiny_resnet_dir, photo, tmp_path, capsys):
    out = tmp_path / "r"
    args = ["explain", str(photo), "-m", str(tiny_resnet_dir), "-o", str(out), "--faithfulness-steps", "0"]
    status = main([*args, "--methods", "gradcam,gradcam++,cls"])
    text = capsys.readouterr().out
    assert status == 0
    assert "explained class:" in text and "gradcam++" in text
    assert "cls        not available: A ResNet has no attention" in text
    assert (out / "overlay-gradcampp.png").is_file() and not (out / "attention-grid.png").exists()
    assert json.loads((out / "summary.json").read_text())["faithfulness"] == {}


def test_cam_layer_picks_an_earlier_resnet_stage(tiny_resnet_dir, photo, tmp_path, capsys):
    out = tmp_path / "early"
    args = ["explain", str(photo), "-m", str(tiny_resnet_dir), "-o", str(out), "--faithfulness-steps", "0"]
    assert main([*args, "--methods", "gradcam", "--cam-layer", "layer2"]) == 0
    assert "Grad-CAM layer: layer2" in capsys.readouterr().out
    assert json.loads((out / "summary.json").read_text())["cam_layer"] == "layer2"
    assert Image.open(out / "map-gradcam.png").size == (64, 64)


@pytest.mark.parametrize(
    ("extra", "status", "message"),
    [
        (["--target", "zebra"], 1, "'zebra' is not one of this model's classes"),
        (["--methods", "saliency"], 1, "'saliency' is not an explanation method"),
        (["--colormap", "rainbow"], 2, "unknown colormap 'rainbow'"),
        (["--cam-layer", "layer4"], 1, "'layer4' is not a Grad-CAM layer of this ViT; choose block:0"),
    ],
)
def test_bad_options_are_one_line(tiny_vit_dir, photo, tmp_path, capsys, extra, status, message):
    assert main(["explain", str(photo), "-m", str(tiny_vit_dir), "-o", str(tmp_path / "x"), *extra]) == status
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1


def test_bad_image_is_one_line(tiny_vit_dir, tmp_path, capsys):
    fake = tmp_path / "notes.jpg"
    fake.write_text("just some text")
    assert main(["explain", str(fake), "-m", str(tiny_vit_dir), "-o", str(tmp_path / "x")]) == 1
    err = capsys.readouterr().err
    assert "notes.jpg" in err and err.count("\n") == 1 and "Traceback" not in err
