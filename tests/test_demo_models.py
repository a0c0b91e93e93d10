"""The bundled demo models: offline, small, accurate, and their maps point at the object."""

import json
import socket
import subprocess
import sys

import pytest

from vitdemo.data.drawn_shapes import drawn_set
from vitdemo.data.shapes import SHAPE_CLASSES, SPLIT_SEEDS, render_shape
from vitdemo.models.model_dir import CARD_NAME, WEIGHTS_NAME
from vitdemo.train.demo_eval import evaluate_demo_model, predict_label
from vitdemo.train.shapes import BUNDLED_DIR

DEMO_SPECS = ["demo-vit", "demo-resnet"]
N_HELD_OUT = 600  # the held-out sample of the model cards (test split 0..599): ~1 min on 2 cores


def is_trained(spec: str) -> bool:
    """False while the card says the model is still in training (its run spans sessions)."""
    return json.loads((BUNDLED_DIR / spec / CARD_NAME).read_text()).get("status") == "trained"


@pytest.fixture(scope="module")
def no_network():
    """Any attempt to open a connection fails the test: loading must be purely local."""
    real_connect = socket.socket.connect

    def refuse(self, address):
        raise AssertionError(f"network access attempted: {address}")

    socket.socket.connect = refuse
    yield
    socket.socket.connect = real_connect


@pytest.fixture(scope="module")
def demo_models(no_network):
    from vitdemo.models import load_model

    return {spec: load_model(spec) for spec in DEMO_SPECS}


@pytest.mark.parametrize("name", DEMO_SPECS)
def test_bundled_files_are_small_safetensors_with_a_card(name):
    folder = BUNDLED_DIR / name
    assert (folder / WEIGHTS_NAME).stat().st_size <= 12 * 1024 * 1024
    card = json.loads((folder / CARD_NAME).read_text())
    assert card["labels"] == SHAPE_CLASSES
    assert card["status"] in ("trained", "in-training")
    assert card["status"] != "trained" or card["metrics"]["top1"] >= 0.97
    assert "recipe" in card["training"] and card["training"]["config"]["seed"] == 0


def test_demo_vit_has_the_promised_shape(demo_models):
    vit = demo_models["demo-vit"]
    assert vit.family == "vit" and vit.geometry.grid_size == (14, 14)
    assert vit.geometry.patch_size == (16, 16) and vit.geometry.has_class_token
    assert len(vit.network.blocks) >= 6 and vit.network.blocks[0].attn.num_heads >= 4
    assert demo_models["demo-resnet"].family == "cnn"


@pytest.fixture(scope="module")
def held_out_reports(demo_models):
    """Both models measured on the same fixed held-out sample, by the code that writes the cards."""
    return {
        spec: evaluate_demo_model(m, n_test=N_HELD_OUT, drawn_per_class=2) for spec, m in demo_models.items()
    }


@pytest.mark.slow
@pytest.mark.parametrize("spec", DEMO_SPECS)
def test_card_figures_are_what_the_model_does(held_out_reports, spec):
    """The model card does not flatter: its test accuracy is reproduced on a held-out sample."""
    card = json.loads((BUNDLED_DIR / spec / CARD_NAME).read_text())
    measured = held_out_reports[spec]
    assert abs(measured.top1 - card["metrics"]["top1"]) <= 0.08, (measured.top1, card["metrics"]["top1"])
    for name, value in card["metrics"]["pointing_game"].items():
        assert abs(measured.pointing[name] - value) <= 0.1, (name, measured.pointing[name], value)


@pytest.mark.slow
@pytest.mark.parametrize("spec", DEMO_SPECS)
def test_quality_targets(held_out_reports, spec):
    """Issue targets: top-1 ≥ 97 %; pointing game ≥ 90 % (ResNet Grad-CAM), ≥ 85 % (ViT's best map).

    A model whose card says it is still in training (the run spans sessions, see the card's
    `status`) is reported as skipped with its figures, never silently passed.
    """
    card = json.loads((BUNDLED_DIR / spec / CARD_NAME).read_text())
    report = held_out_reports[spec]
    if card.get("status") != "trained":
        pytest.skip(f"{spec} is still in training: top-1 {report.top1:.2f}, pointing {report.pointing}")
    assert report.top1 >= 0.97, report.errors
    if spec == "demo-resnet":
        assert report.pointing["gradcam"] >= 0.90
    else:
        assert report.pointing[report.best_map] >= 0.85, report.pointing
    assert report.drawn_top1 >= 11 / 12, "plain drawings by another renderer are recognised"


@pytest.mark.parametrize("spec", DEMO_SPECS)
def test_each_class_is_recognised_in_a_plain_drawing(demo_models, spec):
    if not is_trained(spec):
        pytest.skip(f"{spec} is still in training (see its card)")
    drawings = drawn_set(per_class=1)
    predicted = [predict_label(demo_models[spec], image) for _, image, _ in drawings]
    assert sum(p == name for p, (name, _, _) in zip(predicted, drawings, strict=True)) >= 5, predicted


@pytest.mark.parametrize("spec", DEMO_SPECS)
def test_predict_cli_classifies_generated_shapes(tmp_path, spec):
    from PIL import Image

    paths = []
    for i in range(6):
        s = render_shape(SPLIT_SEEDS["test"], 5000 + i)
        path = tmp_path / f"{s.class_name}.png"
        Image.fromarray(s.image).save(path)
        paths.append(path)
    out = subprocess.run(
        [sys.executable, "-m", "vitdemo", "predict", *map(str, paths), "--model", spec, "--json"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert out.returncode == 0, out.stderr
    rows = json.loads(out.stdout)
    assert [len(row["top_k"]) for row in rows] == [3] * 6
    assert all(row["top_k"][0]["label"] in SHAPE_CLASSES for row in rows)
    if is_trained(spec):
        hits = sum(row["top_k"][0]["label"] == row["image"].rsplit("/", 1)[-1][:-4] for row in rows)
        assert hits >= 5, rows


@pytest.mark.parametrize("spec", DEMO_SPECS)
def test_the_app_tells_whether_a_demo_model_is_still_in_training(demo_models, spec):
    from vitdemo.ui.model_facts import model_facts

    facts = dict(model_facts(demo_models[spec]))
    assert facts["Status"].startswith("trained" if is_trained(spec) else "still in training")
    assert facts["Measured"].startswith("top-1 ")
