"""load_model for every spec kind, offline.

Hub kinds (`vit`, `resnet`, `timm:…`, `hf:…`) are tested by putting untrained weights into a private
HF cache laid out exactly as a download leaves it, then loading through the normal code path: the
test checks that those very weights come back, with the preprocessing, labels and geometry read
from the model's own config.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import timm
import torch
from safetensors.torch import load_file

from vitdemo.errors import ModelNotAvailableError, ModelSpecError
from vitdemo.models import available_offline, catalog, load_model
from vitdemo.models.model_dir import WEIGHTS_NAME, is_model_dir

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


def same_weights(network: torch.nn.Module, expected: dict[str, torch.Tensor]) -> bool:
    state = network.state_dict()
    return state.keys() == expected.keys() and all(torch.equal(state[k].cpu(), expected[k]) for k in expected)


def untrained(name: str, seed: int = 1, **kwargs) -> torch.nn.Module:
    torch.manual_seed(seed)
    return timm.create_model(name, pretrained=False, **kwargs).eval()


# --- bundled demo models -------------------------------------------------------------------------


def test_demo_vit_loads_from_the_bundled_model_directory(tmp_path, monkeypatch, tiny_vit_dir):
    shutil.copytree(tiny_vit_dir, tmp_path / "demo-vit")
    monkeypatch.setattr(catalog, "BUNDLED_ROOT", tmp_path)
    model = load_model("demo-vit", device="cpu")
    assert (model.family, model.backend, model.labels) == ("vit", "timm", ["circle", "square", "triangle"])
    assert model.preprocessing.input_size == (64, 64)
    assert model.preprocessing.crop_mode == "squash"
    assert (model.geometry.grid_size, model.geometry.num_prefix_tokens) == ((4, 4), 1)
    assert same_weights(model.network, load_file(str(tiny_vit_dir / WEIGHTS_NAME)))
    assert "bundled" in model.source
    assert not model.network.training
    untrained_demo = load_model("demo-vit@random", device="cpu")
    assert untrained_demo.labels == model.labels and "untrained" in untrained_demo.source
    assert not same_weights(untrained_demo.network, model.network.state_dict())


def test_missing_bundled_model_is_reported_not_replaced(tmp_path, monkeypatch):
    monkeypatch.setattr(catalog, "BUNDLED_ROOT", tmp_path)
    with pytest.raises(ModelNotAvailableError, match="demo-resnet is missing"):
        load_model("demo-resnet")


@pytest.mark.parametrize(("spec", "family"), [("demo-vit", "vit"), ("demo-resnet", "cnn")])
def test_real_bundled_models(spec, family):
    if not is_model_dir(catalog.BUNDLED_ROOT / spec):
        pytest.skip(f"{spec} is not bundled in this checkout yet")
    model = load_model(spec, device="cpu")
    assert model.family == family
    assert model.num_classes >= 2
    assert model.network(torch.zeros(1, 3, *model.preprocessing.input_size)).shape == (1, model.num_classes)
    if family == "vit":
        assert model.geometry.num_tokens > model.geometry.num_patches


# --- timm models through the HF cache ------------------------------------------------------------


def test_timm_vit_from_the_hub_cache(hub_cache, tmp_path):
    network = untrained("vit_tiny_patch16_224.augreg_in21k_ft_in1k")
    hub_cache.add_timm_model("vit_tiny_patch16_224.augreg_in21k_ft_in1k", network, tmp_path)
    model = load_model("timm:vit_tiny_patch16_224", device="cpu")  # default tag
    assert same_weights(model.network, network.state_dict())
    pre = model.preprocessing
    assert (pre.mean, pre.std) == (
        (0.5, 0.5, 0.5),
        (0.5, 0.5, 0.5),
    )  # augreg ViTs use 0.5, not ImageNet stats
    assert (pre.input_size, pre.interpolation, pre.crop_pct) == ((224, 224), "bicubic", 0.9)
    assert model.labels[0].startswith("tench") and model.labels[207].startswith("golden retriever")
    geometry = model.geometry
    assert (geometry.grid_size, geometry.patch_size, geometry.num_prefix_tokens) == ((14, 14), (16, 16), 1)
    assert geometry.has_class_token
    assert model.card["timm_name"] == "vit_tiny_patch16_224.augreg_in21k_ft_in1k"


def test_resnet_default_from_the_hub_cache(hub_cache, tmp_path):
    network = untrained("resnet50.a1_in1k")
    hub_cache.add_timm_model("resnet50.a1_in1k", network, tmp_path)
    model = load_model("resnet", device="cpu")
    assert same_weights(model.network, network.state_dict())
    assert (model.family, model.geometry) == ("cnn", None)
    assert (model.preprocessing.mean, model.preprocessing.std) == (IMAGENET_MEAN, IMAGENET_STD)
    assert model.preprocessing.crop_pct == 0.95
    assert model.num_classes == 1000


def test_corrupt_cached_weights_say_how_to_recover(hub_cache):
    hub_cache.add_file("timm/resnet18.a1_in1k", "model.safetensors", b"this is not a safetensors file")
    with pytest.raises(ModelNotAvailableError, match=r"delete that file and run `python -m vitdemo fetch"):
        load_model("timm:resnet18.a1_in1k")


# --- offline and not cached: a clear error, never another model ----------------------------------


@pytest.mark.parametrize(
    "spec", ["vit", "resnet", "timm:deit_tiny_patch16_224.fb_in1k", "hf:google/vit-base-patch16-224"]
)
def test_offline_uncached_models_name_fetch_and_the_offline_models(hub_cache, spec):
    with pytest.raises(ModelNotAvailableError) as info:
        load_model(spec)
    message = str(info.value)
    assert f"python -m vitdemo fetch {spec}`" in message
    assert "demo-vit" in message and "demo-resnet" in message
    assert "\n" not in message


def test_untrained_hf_weights_still_need_the_repositorys_config_once(hub_cache):
    with pytest.raises(ModelNotAvailableError) as info:
        load_model("hf:google/vit-base-patch16-224@random")
    message = str(info.value)
    assert "needs its repository's config.json, which is not in the local model cache" in message
    assert "python -m vitdemo fetch hf:google/vit-base-patch16-224`" in message and "\n" not in message
    assert not available_offline("hf:google/vit-base-patch16-224@random")


# --- untrained weights and token geometry --------------------------------------------------------


def test_distilled_deit_has_two_prefix_tokens():
    model = load_model("timm:deit_tiny_distilled_patch16_224@random", device="cpu")
    assert (model.geometry.num_prefix_tokens, model.geometry.has_class_token) == (2, True)
    assert model.geometry.num_tokens == 2 + 14 * 14
    assert (model.preprocessing.mean, model.preprocessing.std) == (IMAGENET_MEAN, IMAGENET_STD)
    assert "untrained" in model.source


@pytest.mark.slow
def test_register_vit_without_class_token():
    model = load_model("timm:vit_little_patch16_reg4_gap_256@random", device="cpu")
    geometry = model.geometry
    assert (geometry.grid_size, geometry.num_prefix_tokens, geometry.has_class_token) == ((16, 16), 4, False)
    assert model.preprocessing.input_size == (256, 256)
    tokens = model.network.forward_features(torch.zeros(1, 3, 256, 256))  # (1, tokens, dim)
    assert tokens.shape[1] == geometry.num_tokens


def test_random_weights_are_untrained_and_reproducible(tiny_vit_dir):
    first = load_model(f"{tiny_vit_dir}@random", device="cpu")
    second = load_model(f"{tiny_vit_dir}@random", device="cpu")
    saved = load_file(str(tiny_vit_dir / WEIGHTS_NAME))
    assert not same_weights(first.network, saved)
    assert same_weights(second.network, first.network.state_dict())
    assert first.labels == ["circle", "square", "triangle"]


@pytest.mark.slow
def test_default_vit_with_random_weights_needs_no_download(hub_cache):
    model = load_model("vit@random", device="cpu")
    assert model.geometry.grid_size == (14, 14) and model.preprocessing.mean == (0.5, 0.5, 0.5)
    assert model.num_classes == 1000


# --- architectures we do not explain -------------------------------------------------------------


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("timm:convnext_tiny", "Vision Transformers (ViT, DeiT) and ResNets only"),
        ("timm:resnetv2_50", "ResNets only"),
        ("timm:vit_tiny_patch16_244", "Did you mean vit_tiny_patch16_224"),
        ("timm:vit_tiny_patch16_224.not_a_tag", "Known tags: augreg_in21k"),
        ("timm:vit_small_patch14_dinov2", "feature extractor without a classifier head"),
    ],
)
def test_unsupported_timm_models_are_refused_by_name(spec, message):
    with pytest.raises(ModelSpecError) as info:
        load_model(spec)
    assert message in str(info.value)


# --- local directories ---------------------------------------------------------------------------


def test_model_directories_of_both_families(tiny_vit_dir, tiny_resnet_dir):
    vit = load_model(str(tiny_vit_dir), device="cpu")
    resnet = load_model(str(tiny_resnet_dir), device="cpu")
    assert (vit.family, resnet.family) == ("vit", "cnn")
    assert same_weights(resnet.network, load_file(str(tiny_resnet_dir / WEIGHTS_NAME)))
    assert str(tiny_vit_dir) in vit.source


def test_timm_export_folder(tmp_path):
    from timm.models._hub import save_for_hf

    network = untrained("deit_tiny_distilled_patch16_224.fb_in1k")
    save_for_hf(network, str(tmp_path / "export"), safe_serialization=True)
    model = load_model(str(tmp_path / "export"), device="cpu")
    assert same_weights(model.network, network.state_dict())
    assert model.geometry.num_prefix_tokens == 2


def test_not_a_model_directory(tmp_path):
    (tmp_path / "holiday.jpg").write_bytes(b"x")
    with pytest.raises(ModelSpecError, match="is not a model directory"):
        load_model(str(tmp_path))
    with pytest.raises(ModelSpecError, match="write hf:google/vit-base-patch16-224"):
        load_model("google/vit-base-patch16-224")


# --- transformers ViTForImageClassification ------------------------------------------------------


def save_tiny_hf_vit(folder: Path, *, mean, std, resample: int, architectures=None) -> torch.nn.Module:
    from transformers import ViTConfig, ViTForImageClassification, ViTImageProcessor

    labels = {0: "real", 1: "fake"}
    config = ViTConfig(
        image_size=32,
        patch_size=8,
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=64,
        id2label=labels,
        label2id={v: k for k, v in labels.items()},
    )
    torch.manual_seed(3)
    network = ViTForImageClassification(config).eval()
    network.save_pretrained(folder)
    processor = ViTImageProcessor(
        size={"height": 32, "width": 32}, image_mean=mean, image_std=std, resample=resample
    )
    processor.save_pretrained(folder)
    if architectures is not None:
        config_path = folder / "config.json"
        config_json = json.loads(config_path.read_text())
        config_json["architectures"] = architectures
        config_path.write_text(json.dumps(config_json))
    return network


@pytest.mark.slow
def test_hf_repository_from_the_hub_cache(hub_cache, tmp_path):
    network = save_tiny_hf_vit(
        tmp_path / "repo", mean=list(IMAGENET_MEAN), std=list(IMAGENET_STD), resample=3
    )
    hub_cache.add_folder("someone/fake-face-detector", tmp_path / "repo")
    model = load_model("hf:someone/fake-face-detector", device="cpu")
    assert (model.backend, model.family, model.labels) == ("hf", "vit", ["real", "fake"])
    assert same_weights(model.network, network.state_dict())
    pre = model.preprocessing
    assert (pre.mean, pre.std, pre.interpolation) == (IMAGENET_MEAN, IMAGENET_STD, "bicubic")
    assert (pre.input_size, pre.crop_mode) == ((32, 32), "squash")
    assert (model.geometry.grid_size, model.geometry.num_prefix_tokens) == ((4, 4), 1)
    out = model.network(pixel_values=torch.zeros(1, 3, 32, 32), output_attentions=True)
    assert len(out.attentions) == 2 and out.attentions[0].shape == (1, 2, 17, 17)  # eager attention


@pytest.mark.slow
def test_hf_save_pretrained_folder_and_random_weights(tmp_path, hub_cache):
    network = save_tiny_hf_vit(tmp_path / "folder", mean=[0.5] * 3, std=[0.5] * 3, resample=2)
    model = load_model(str(tmp_path / "folder"), device="cpu")
    assert same_weights(model.network, network.state_dict())
    assert (model.preprocessing.mean, model.preprocessing.interpolation) == ((0.5, 0.5, 0.5), "bilinear")
    hub_cache.add_file("someone/only-config", "config.json", tmp_path / "folder" / "config.json")
    untrained_model = load_model("hf:someone/only-config@random", device="cpu")
    assert untrained_model.labels == ["real", "fake"]
    assert not same_weights(untrained_model.network, network.state_dict())
    with pytest.raises(ModelNotAvailableError, match="fetch hf:someone/only-config`"):
        load_model("hf:someone/only-config")  # the weights were never fetched


@pytest.mark.slow
def test_hf_models_that_are_not_vit_classifiers_are_refused(tmp_path):
    save_tiny_hf_vit(
        tmp_path / "backbone", mean=[0.5] * 3, std=[0.5] * 3, resample=2, architectures=["ViTModel"]
    )
    with pytest.raises(ModelSpecError, match="without an image classification head"):
        load_model(str(tmp_path / "backbone"))
    (tmp_path / "resnet").mkdir()
    config = {"model_type": "resnet", "architectures": ["ResNetForImageClassification"]}
    (tmp_path / "resnet" / "config.json").write_text(json.dumps(config))
    with pytest.raises(ModelSpecError, match="ResNetForImageClassification model"):
        load_model(str(tmp_path / "resnet"))


@pytest.mark.slow
def test_hf_weights_without_a_classifier_are_not_silently_completed(tmp_path):
    from safetensors.torch import save_file

    save_tiny_hf_vit(tmp_path / "headless", mean=[0.5] * 3, std=[0.5] * 3, resample=2)
    weights = tmp_path / "headless" / "model.safetensors"
    state = {k: v for k, v in load_file(str(weights)).items() if not k.startswith("classifier.")}
    save_file(state, str(weights), metadata={"format": "pt"})
    with pytest.raises(ModelSpecError, match="not a complete image classifier"):
        load_model(str(tmp_path / "headless"))
