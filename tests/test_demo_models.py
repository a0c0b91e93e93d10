"""The bundled demo models: offline, small, accurate, and their maps point at the object."""

import json
import socket
import subprocess
import sys

import pytest
import torch

from vitdemo.data.drawn_shapes import drawn_set
from vitdemo.data.shapes import SHAPE_CLASSES, SPLIT_SEEDS, render_shape
from vitdemo.models.model_dir import CARD_NAME, WEIGHTS_NAME
from vitdemo.train.demo_eval import QUALITY_BARS, evaluate_demo_model, predict_label
from vitdemo.train.shapes import BUNDLED_DIR

DEMO_SPECS = ["demo-vit", "demo-hybrid", "demo-resnet"]
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


@pytest.mark.parametrize("spec", ["demo-vit", "demo-hybrid"])
def test_demo_vits_have_the_promised_shape(demo_models, spec):
    vit = demo_models[spec]
    assert vit.family == "vit" and vit.geometry.grid_size == (14, 14)
    assert vit.geometry.patch_size == (16, 16) and vit.geometry.has_class_token
    assert len(vit.network.blocks) >= 6 and vit.network.blocks[0].attn.num_heads >= 4
    assert demo_models["demo-resnet"].family == "cnn"


def test_demo_vit_tokens_are_made_the_way_its_card_says(demo_models):
    """demo-vit's tokens are image patches: a linear 16×16 projection, or a conv stem of 3×3 stride-2 convs."""
    from timm.layers import PatchEmbed
    from timm.models.vision_transformer_hybrid import ConvStem

    embed = demo_models["demo-vit"].network.patch_embed
    description = demo_models["demo-vit"].card["description"]
    if "conv stem" in description:
        convs = [block.conv for block in embed.backbone]
        assert isinstance(embed.backbone, ConvStem) and len(convs) == 4, embed
        assert all(c.kernel_size == (3, 3) and c.stride == (2, 2) for c in convs)
        assert "four 3×3 stride-2 convolutions" in description and "31×31-px window" in description
    else:
        assert isinstance(embed, PatchEmbed) and "linear" in description
        assert embed.proj.kernel_size == embed.proj.stride == (16, 16)
    # whatever embeds it, a token is one 16×16 patch of the image: no CNN backbone in between
    x = torch.zeros(1, 3, 224, 224)
    assert embed(x).shape[1] == 14 * 14 == demo_models["demo-vit"].geometry.grid_size[0] ** 2


def test_demo_hybrid_tokens_are_demo_resnets_stage_3_features(demo_models):
    """The ViT paper's hybrid: demo-resnet's conv1..layer3 make the tokens (the card says so too)."""
    hybrid, resnet = demo_models["demo-hybrid"], demo_models["demo-resnet"]
    stem = hybrid.network.patch_embed.backbone.state_dict()
    assert {k.split(".")[0] for k in stem} == {"conv1", "bn1", "layer1", "layer2", "layer3"}
    reference = resnet.network.state_dict()
    assert all(torch.equal(value, reference[key]) for key, value in stem.items())
    assert "hybrid" in hybrid.card["description"] and "demo-resnet" in hybrid.card["description"]


class HeldOutReports(dict):
    """Each model measured on the same fixed held-out sample, by the code that writes the cards.

    Lazily, one model at a time: the first test that asks for a model pays for its evaluation,
    so each evaluation counts against that test's timeout rather than all three against one.
    """

    def __init__(self, models):
        super().__init__()
        self.models = models

    def __missing__(self, spec):
        self[spec] = evaluate_demo_model(self.models[spec], n_test=N_HELD_OUT, drawn_per_class=2)
        return self[spec]


@pytest.fixture(scope="module")
def held_out_reports(demo_models):
    return HeldOutReports(demo_models)


# One model's 600 images with every map: about 2 minutes alone, 6-15 on a crowded 2-core machine.
@pytest.mark.slow
@pytest.mark.timeout(1800)
@pytest.mark.parametrize("spec", DEMO_SPECS)
def test_card_figures_are_what_the_model_does(held_out_reports, spec):
    """The model card does not flatter: its test accuracy is reproduced on a held-out sample."""
    card = json.loads((BUNDLED_DIR / spec / CARD_NAME).read_text())
    measured = held_out_reports[spec]
    assert abs(measured.top1 - card["metrics"]["top1"]) <= 0.08, (measured.top1, card["metrics"]["top1"])
    for name, value in card["metrics"]["pointing_game"].items():
        assert abs(measured.pointing[name] - value) <= 0.1, (name, measured.pointing[name], value)


@pytest.mark.slow
@pytest.mark.timeout(1800)
@pytest.mark.parametrize("spec", DEMO_SPECS)
def test_quality_targets(held_out_reports, spec):
    """Issue 11's bars (`QUALITY_BARS`): top-1 ≥ 97 % and plain drawings for all; demo-vit's CLS
    attention points at the object (≥ 95 %, strict ≥ 90 %), as do rollout and relevance (≥ 95 %);
    demo-resnet's Grad-CAM ≥ 90 %; demo-hybrid's best map ≥ 85 %.

    A model whose card says it is still in training (the run spans sessions, see the card's
    `status`) is reported as skipped with its figures, never silently passed.
    """
    card = json.loads((BUNDLED_DIR / spec / CARD_NAME).read_text())
    report = held_out_reports[spec]
    if card.get("status") != "trained":
        pytest.skip(f"{spec} is still in training: top-1 {report.top1:.2f}, pointing {report.pointing}")
    assert not report.unmet(QUALITY_BARS[spec]), (report.unmet(QUALITY_BARS[spec]), report.errors)


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


def test_the_app_starts_with_demo_vit_and_demo_resnet_while_the_hybrid_is_listed(monkeypatch):
    from vitdemo.models import list_models
    from vitdemo.ui.sidebar import MODELS_ENV, default_specs

    monkeypatch.delenv(MODELS_ENV, raising=False)
    catalogue = list_models()
    assert {row.spec: row.status for row in catalogue}["demo-hybrid"] == "bundled"
    assert default_specs(catalogue) == ["demo-vit", "demo-resnet"]


def test_the_models_page_says_how_each_demo_vit_makes_its_tokens_and_how_it_was_trained(demo_models):
    from vitdemo.ui.model_facts import model_facts

    facts = {spec: dict(model_facts(demo_models[spec])) for spec in DEMO_SPECS}
    assert "conv stem of 4 convolutions" in facts["demo-vit"]["Tokens"]
    assert "cells of a CNN feature map" in facts["demo-hybrid"]["Tokens"]
    assert "Tokens" not in facts["demo-resnet"]
    for spec in DEMO_SPECS:
        training = demo_models[spec].card["training"]
        hardware = training["history"][-1]["hardware"]  # e.g. "2-core CPU (x86_64)" or a GPU's name
        assert (
            f"{training['minutes']} min on " in facts[spec]["Training"]
            and hardware in facts[spec]["Training"]
        )
