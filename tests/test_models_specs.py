"""Model spec strings: every documented form parses; typos get a message that shows the way."""

from __future__ import annotations

import pytest

from vitdemo.errors import ModelSpecError
from vitdemo.models.specs import DEFAULT_TIMM_MODELS, parse_spec


@pytest.mark.parametrize(
    ("text", "kind", "name", "random"),
    [
        ("demo-vit", "bundled", "demo-vit", False),
        ("demo-resnet@random", "bundled", "demo-resnet", True),
        ("vit", "timm", "vit_base_patch16_224.augreg2_in21k_ft_in1k", False),
        ("resnet", "timm", "resnet50.a1_in1k", False),
        ("vit@random", "timm", DEFAULT_TIMM_MODELS["vit"], True),
        ("timm:deit_tiny_distilled_patch16_224", "timm", "deit_tiny_distilled_patch16_224", False),
        ("timm:vit_base_patch16_224.augreg_in21k@random", "timm", "vit_base_patch16_224.augreg_in21k", True),
        ("hf:google/vit-base-patch16-224", "hf", "google/vit-base-patch16-224", False),
        ("hf:someone/fake-face-detector@random", "hf", "someone/fake-face-detector", True),
        ("runs/20250101-shapes", "dir", "runs/20250101-shapes", False),
        ("./my-model@random", "dir", "my-model", True),
    ],
)
def test_documented_forms(text, kind, name, random):
    spec = parse_spec(text)
    assert (spec.kind, spec.random, spec.text) == (kind, random, text)
    assert spec.name.endswith(name)


def test_the_defaults_are_the_documented_imagenet_models():
    assert DEFAULT_TIMM_MODELS == {
        "vit": "vit_base_patch16_224.augreg2_in21k_ft_in1k",
        "resnet": "resnet50.a1_in1k",
    }


def test_without_random_names_the_pretrained_weights():
    assert parse_spec("timm:resnet18@random").without_random == "timm:resnet18"
    assert parse_spec("vit").without_random == "vit"


@pytest.mark.parametrize(
    ("text", "hint"),
    [
        ("", "No model given"),
        ("@random", "names no model"),
        ("deit_tiny_patch16_224", "timm:deit_tiny_patch16_224"),
        ("timm:Not A Name", "not a timm model name"),
        ("hf:", "not a Hugging Face repository id"),
        ("hf:../../etc", "not a Hugging Face repository id"),
        ("gpt", "use one of"),
    ],
)
def test_bad_specs_explain_themselves(text, hint):
    with pytest.raises(ModelSpecError) as info:
        parse_spec(text)
    assert hint in str(info.value)
    assert "\n" not in str(info.value)
