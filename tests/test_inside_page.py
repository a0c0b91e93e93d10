"""The "Inside the ViT" page and the Grad-CAM page's sanity check and chance level, driven with AppTest,
and `python -m vitdemo inside`."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import streamlit as st
from streamlit.testing.v1 import AppTest

from vitdemo.cli import main
from vitdemo.data.shapes import render_shape
from vitdemo.ui.sidebar import GALLERY_KEY, MODELS_KEY

APP = Path(__file__).resolve().parents[1] / "app.py"
PAGE = "app_pages/7_Inside_the_ViT.py"


def run_page(models: list[str], page: str = PAGE) -> AppTest:
    st.cache_resource.clear()
    at = AppTest.from_file(str(APP), default_timeout=300)
    at.session_state[MODELS_KEY] = models
    at.session_state[GALLERY_KEY] = ["Shapes: triangle (plain)"]
    at.run()
    at.switch_page(page).run()
    assert not at.exception, [e.value for e in at.exception]
    assert [e.value for e in at.error] == []
    return at


def texts(at: AppTest) -> str:
    return " ".join(
        [m.value for m in at.markdown] + [c.value for c in at.caption] + [i.value for i in at.info]
    )


def test_inside_the_vit_shows_distance_entropy_filters_lens_and_norms(tiny_vit_dir):
    at = run_page([str(tiny_vit_dir)])
    assert "Inside the ViT" in [t.value for t in at.title]
    headers = [h.value for h in at.subheader]
    for header in ("How far does each head look?", "What the first layer sees", "When does the model know?"):
        assert header in headers
    page = texts(at)
    assert "Mean attention distance" in page and "uniform attention would be" in page
    assert "Principal components of the patch embedding" in page  # the tiny ViT has a linear patch embedding
    assert "ranks first from layer" in page or "does not pick" in page
    assert len(at.get("plotly_chart")) == 6  # distance, entropy, filters, lens, norm map, norm profile
    at.slider(key="inside_norm_layer").set_value(1).run()  # from the cached pass: no error, new caption
    assert not at.exception
    assert any(c.value.startswith("Layer 1:") for c in at.caption)


def test_inside_the_vit_on_a_resnet_says_what_applies(tiny_resnet_dir):
    at = run_page([str(tiny_resnet_dir)])
    page = texts(at)
    assert "apply to Vision Transformers only" in page
    assert "First-layer filters" in page
    assert len(at.get("plotly_chart")) == 1


def test_the_grad_cam_page_runs_the_sanity_check_and_shows_the_chance_level(tiny_resnet_dir):
    at = run_page([str(tiny_resnet_dir)], "app_pages/3_Grad-CAM.py")
    at.toggle(key="cam_score").set_value(True).run()
    assert not at.exception
    assert any("Chance level" in c.value for c in at.caption)
    run = next(b for b in at.button if b.label == "Run the sanity check")
    run.click().run()
    assert not at.exception, [e.value for e in at.exception]
    verdicts = [m.value for m in at.markdown if " passes: " in m.value or " fails: " in m.value]
    assert len(verdicts) == 5  # the five fast CAMs a ResNet offers (Score-CAM is opt-in)


def test_the_cli_writes_plots_and_numbers(tmp_path, tiny_vit_dir, tiny_resnet_dir, capsys):
    from PIL import Image

    image = tmp_path / "star.png"
    Image.fromarray(render_shape(3, 3).image).save(image)
    out = tmp_path / "vit"
    assert (
        main(["inside", str(image), "--model", str(tiny_vit_dir), "--out", str(out), "--sanity-checks"]) == 0
    )
    report = json.loads((out / "inside.json").read_text())
    for name in report["files"]:
        assert (out / name).stat().st_size > 0
    assert {"attention-distance.png", "logit-lens.png", "token-norms.png", "sanity-checks.png"} <= set(
        report["files"]
    )
    assert len(report["attention_distance_px"]) == 2 and len(report["attention_distance_px"][0]) == 3
    assert report["geometry"]["grid_size"] == [4, 4]
    assert set(report["sanity_checks"]["passes"]) >= {"gradcam", "rollout"}
    assert "files written" in capsys.readouterr().out

    out = tmp_path / "cnn"
    assert main(["inside", str(image), "--model", str(tiny_resnet_dir), "--out", str(out)]) == 0
    report = json.loads((out / "inside.json").read_text())
    assert report["files"] == ["filters.png", "inside.json"] and "need a ViT" in report["not_applicable"]


@pytest.mark.parametrize("bad", ["missing.png"])
def test_the_cli_reports_a_missing_image_in_one_line(tmp_path, bad, capsys):
    assert main(["inside", str(tmp_path / bad), "--model", "demo-vit", "--out", str(tmp_path / "o")]) == 1
    err = capsys.readouterr().err.strip()
    assert err.startswith("vitdemo inside: error:") and "\n" not in err
