"""A model sees exactly the tensor its own library would give it: timm's eval transform, HF's processor."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image
from timm.data import create_transform, resolve_data_config, resolve_model_data_config

from vitdemo.errors import ModelSpecError
from vitdemo.models import load_model
from vitdemo.models.hf_models import hf_preprocessing
from vitdemo.models.loaded import Preprocessing

IMAGENET = {"mean": (0.485, 0.456, 0.406), "std": (0.229, 0.224, 0.225)}


def photo(width: int, height: int, seed: int = 0) -> Image.Image:
    """Smooth gradients plus noise: every resize filter and every rounding of a size shows in the pixels."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:height, 0:width]
    base = np.stack([x * 255 / width, y * 255 / height, (x + y) * 127 / (width + height)], axis=-1)
    pixels = np.clip(base + rng.normal(0, 25, base.shape), 0, 255).astype(np.uint8)
    return Image.fromarray(pixels)


PHOTOS = [photo(500, 333), photo(333, 500, seed=1), photo(640, 427, seed=2), photo(97, 61, seed=3)]


@pytest.mark.parametrize("crop_pct", [0.875, 0.9, 0.95, 1.0])
@pytest.mark.parametrize("interpolation", ["bicubic", "bilinear"])
@pytest.mark.parametrize("crop_mode", ["center", "squash"])
def test_timm_configs_give_exactly_timms_tensor(crop_pct, interpolation, crop_mode):
    config = resolve_data_config(
        pretrained_cfg={
            "input_size": (3, 224, 224),
            "interpolation": interpolation,
            "crop_pct": crop_pct,
            "crop_mode": crop_mode,
            **IMAGENET,
        }
    )
    ours = Preprocessing.from_dict({**config, "input_size": list(config["input_size"])})
    theirs = create_transform(**config)
    for image in PHOTOS:
        assert torch.equal(ours.to_tensor(image), theirs(image)), image.size


def test_a_pretrained_timm_model_uses_its_own_data_config():
    model = load_model("timm:deit_tiny_patch16_224@random", device="cpu")
    config = resolve_model_data_config(model.network)
    assert (model.preprocessing.crop_pct, model.preprocessing.interpolation) == (
        0.9,
        "bicubic",
    )  # deit_tiny.fb_in1k
    for image in PHOTOS:
        assert torch.equal(model.preprocessing.to_tensor(image), create_transform(**config)(image))


def test_the_bundled_demo_models_use_timms_transform_for_their_card():
    for spec in ("demo-vit", "demo-resnet"):
        model = load_model(spec, device="cpu")
        theirs = create_transform(**model.preprocessing.timm_config())
        assert torch.equal(model.preprocessing.to_tensor(PHOTOS[2]), theirs(PHOTOS[2]))


def test_the_view_is_the_image_the_network_sees():
    prep = Preprocessing(input_size=(160, 128), crop_pct=0.9, **IMAGENET)
    view = prep.view(PHOTOS[1])
    assert view.shape == (160, 128, 3) and view.dtype == np.uint8
    assert torch.equal(prep.normalise(view), prep.to_tensor(PHOTOS[1]))


def save_processor(folder, processor):
    processor.save_pretrained(folder)
    return folder


def vit_config(size: int):
    from transformers import ViTConfig

    return ViTConfig(image_size=size, patch_size=8)


@pytest.mark.parametrize("kind", ["vit-bicubic", "deit-resize-and-crop", "vit-defaults"])
def test_hf_models_use_exactly_their_saved_image_processor(tmp_path, kind):
    from transformers import AutoImageProcessor, DeiTImageProcessor, ViTImageProcessor

    if kind == "vit-bicubic":
        processor = ViTImageProcessor(size={"height": 32, "width": 32}, resample=3, **_hf_imagenet())
    elif kind == "deit-resize-and-crop":
        processor = DeiTImageProcessor(
            size={"height": 40, "width": 40}, crop_size={"height": 32, "width": 32}
        )
    else:
        processor = ViTImageProcessor(size={"height": 32, "width": 32})
    save_processor(tmp_path, processor)
    prep = hf_preprocessing(tmp_path, vit_config(32), "hf:someone/model")
    theirs = AutoImageProcessor.from_pretrained(str(tmp_path), local_files_only=True)
    for image in PHOTOS:
        expected = theirs(image, return_tensors="pt").pixel_values[0]
        assert torch.equal(prep.to_tensor(image), expected), image.size
    assert prep.input_size == (32, 32) and prep.view(PHOTOS[0]).shape == (32, 32, 3)


def test_hf_folder_without_processor_config_gets_the_vit_default_sized_for_the_model(tmp_path):
    prep = hf_preprocessing(tmp_path, vit_config(48), "hf:someone/model")
    assert (prep.input_size, prep.mean, prep.interpolation, prep.crop_mode) == (
        (48, 48),
        (0.5, 0.5, 0.5),
        "bilinear",
        "squash",
    )


def test_hf_processor_that_does_not_fit_the_model_is_refused(tmp_path):
    from transformers import ViTImageProcessor

    save_processor(tmp_path, ViTImageProcessor(size={"height": 64, "width": 64}))
    with pytest.raises(ModelSpecError, match="makes 64x64 inputs but the model takes 32x32"):
        hf_preprocessing(tmp_path, vit_config(32), "hf:someone/model")


def _hf_imagenet() -> dict:
    return {"image_mean": list(IMAGENET["mean"]), "image_std": list(IMAGENET["std"])}


def test_explain_predict_and_the_overlay_view_all_use_the_same_input():
    from vitdemo.explain import explain
    from vitdemo.models import predict

    model = load_model("timm:deit_tiny_patch16_224@random", device="cpu")  # crop 0.9, bicubic
    image = PHOTOS[0]  # 500x333: the crop matters
    result = explain(model, image, methods=["gradcam"])
    assert np.array_equal(result.view, model.preprocessing.view(image))  # overlays are drawn on this
    with torch.inference_mode():
        expected = model.network(create_transform(**resolve_model_data_config(model.network))(image)[None])
    np.testing.assert_allclose(result.logits, expected[0].numpy(), rtol=1e-4, atol=1e-5)
    best = predict(model, image, top_k=1)[0][0]
    assert best.index == result.top_k[0].index and abs(best.prob - result.top_k[0].prob) < 1e-5
