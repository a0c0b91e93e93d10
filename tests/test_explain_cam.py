"""Our single-pass CAMs equal direct pytorch-grad-cam calls (own forward/backward) on the same layer."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from explain_models import hf_vit, input_tensor, random_image, small_resnet, timm_vit
from pytorch_grad_cam import EigenCAM, GradCAM, GradCAMPlusPlus, HiResCAM, LayerCAM, ScoreCAM
from pytorch_grad_cam.utils.model_targets import ClassifierOutputTarget

from vitdemo.explain import explain, vit_reshape_transform

LIBRARY = {
    "gradcam": GradCAM,
    "gradcam++": GradCAMPlusPlus,
    "hirescam": HiResCAM,
    "layercam": LayerCAM,
    "eigencam": EigenCAM,
}


def min_max(a: np.ndarray) -> np.ndarray:
    return (a - a.min()) / (a.max() - a.min())


def library_map(cam_class, network, layer, x, target, reshape=None, **attrs) -> np.ndarray:
    with cam_class(network, [layer], reshape_transform=reshape) as cam:
        for key, value in attrs.items():
            setattr(cam, key, value)
        return min_max(cam(x, [ClassifierOutputTarget(target)])[0])


def test_resnet_cam_family_equals_direct_library_calls():
    model = small_resnet(size=128)
    image = random_image(11, (128, 128))
    result = explain(model, image, target=2, methods=list(LIBRARY))
    x = input_tensor(model, image)
    for name, cam_class in LIBRARY.items():
        assert (result.raw_maps[name] > 0).sum() >= 4, f"{name} is degenerate: the comparison would be empty"
        expected = library_map(cam_class, model.network, model.network.layer4[-1], x, 2)
        np.testing.assert_allclose(result.maps[name], expected, atol=2e-4, err_msg=name)
    assert result.raw_maps["gradcam"].shape == (4, 4)  # layer4's resolution for a 128-px input


def test_resnet_score_cam_equals_direct_library_call():
    model = small_resnet()
    image = random_image(12, (64, 64))
    result = explain(model, image, methods=["scorecam"], score_cam_batch_size=16)
    x = input_tensor(model, image)
    expected = library_map(
        ScoreCAM, model.network, model.network.layer4[-1], x, result.target.index, batch_size=16
    )
    assert (result.raw_maps["scorecam"] > 0).sum() >= 2
    np.testing.assert_allclose(result.maps["scorecam"], expected, atol=2e-4)


@pytest.mark.parametrize("kwargs", [{}, {"reg_tokens": 4}, {"name": "deit_tiny_distilled_patch16_224"}])
def test_timm_vit_gradcam_equals_direct_library_call(kwargs):
    model = timm_vit(img_size=(32, 48), **kwargs)
    image = random_image(13)
    result = explain(model, image, target=4, methods=["gradcam", "layercam"])
    x = input_tensor(model, image)
    reshape = vit_reshape_transform(model.geometry)
    for name in ("gradcam", "layercam"):
        assert (result.raw_maps[name] > 0).sum() >= 4, f"{name} is degenerate: the comparison would be empty"
        expected = library_map(LIBRARY[name], model.network, model.network.blocks[-1].norm1, x, 4, reshape)
        np.testing.assert_allclose(result.maps[name], expected, atol=2e-4, err_msg=name)
    assert result.raw_maps["gradcam"].shape == (4, 6)


class _HfLogits(torch.nn.Module):
    def __init__(self, network):
        super().__init__()
        self.network = network

    def forward(self, x):
        return self.network(pixel_values=x).logits


def test_hf_vit_gradcam_equals_direct_library_call():
    model = hf_vit()
    image = random_image(14)
    result = explain(model, image, target=0, methods=["gradcam"])
    x = input_tensor(model, image)
    layer = model.network.vit.layers[-1].layernorm_before
    expected = library_map(
        GradCAM, _HfLogits(model.network), layer, x, 0, vit_reshape_transform(model.geometry)
    )
    assert (result.raw_maps["gradcam"] > 0).sum() >= 4
    np.testing.assert_allclose(result.maps["gradcam"], expected, atol=2e-4)


def test_cnn_reports_attention_maps_unavailable():
    result = explain(small_resnet(), random_image(15, (64, 64)), methods=["cls", "rollout", "gradcam"])
    assert set(result.maps) == {"gradcam"}
    assert "only for Vision Transformers" in result.unavailable["cls"]
    assert "rollout" in result.unavailable
    assert result.attentions is None
