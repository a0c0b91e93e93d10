"""Our single-pass CAMs equal direct pytorch-grad-cam calls (own forward/backward) on the same layer."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from explain_models import hf_vit, input_tensor, random_image, small_resnet, timm_vit
from pytorch_grad_cam import EigenCAM, GradCAM, GradCAMPlusPlus, HiResCAM, LayerCAM, ScoreCAM
from pytorch_grad_cam.utils.model_targets import ClassifierOutputTarget

from vitdemo.errors import VitdemoError
from vitdemo.explain import cam_layers, explain, vit_reshape_transform

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


def assert_maps_equal_library(result, model, image, layer, names, reshape=None) -> None:
    """Each of `names` in `result` equals pytorch-grad-cam's own map for `layer` and the explained class."""
    x = input_tensor(model, image)
    for name in names:
        assert (result.raw_maps[name] > 0).sum() >= 4, f"{name} is degenerate: the comparison would be empty"
        expected = library_map(LIBRARY[name], model.network, layer, x, result.target.index, reshape)
        np.testing.assert_allclose(result.maps[name], expected, atol=2e-4, err_msg=name)


def test_resnet_cam_family_equals_direct_library_calls():
    model = small_resnet(size=128)
    image = random_image(11, (128, 128))
    result = explain(model, image, target=2, methods=list(LIBRARY))
    assert result.target.index == 2
    assert_maps_equal_library(result, model, image, model.network.layer4[-1], LIBRARY)
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
    assert result.target.index == 4
    layer, reshape = model.network.blocks[-1].norm1, vit_reshape_transform(model.geometry)
    assert_maps_equal_library(result, model, image, layer, ("gradcam", "layercam"), reshape)
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


class _Recorder:
    """Counts forward and backward passes through chosen modules (test-owned hooks, removed after)."""

    def __init__(self, modules: dict[str, torch.nn.Module]):
        self.forwards = dict.fromkeys(modules, 0)
        self.backwards = dict.fromkeys(modules, 0)
        self._handles = []
        for name, module in modules.items():
            self._handles.append(module.register_forward_pre_hook(self._bump(self.forwards, name)))
            self._handles.append(module.register_full_backward_hook(self._bump(self.backwards, name)))

    @staticmethod
    def _bump(counts, name):
        def hook(*_args):
            counts[name] += 1

        return hook

    def close(self) -> None:
        for handle in self._handles:
            handle.remove()


def test_resnet_earlier_stage_equals_direct_library_calls_with_one_pass():
    model = small_resnet(size=128)
    image = random_image(16, (128, 128))
    stages = {name: getattr(model.network, name) for name in ("layer1", "layer2", "layer3", "layer4")}
    recorder = _Recorder(stages)
    try:
        result = explain(model, image, target=2, methods=list(LIBRARY), cam_layer="layer2")
    finally:
        recorder.close()
    assert result.cam_layer == "layer2"
    assert recorder.forwards == dict.fromkeys(stages, 1)  # one forward pass serves every map
    # The gradient runs back through the later stages to layer2's output, never into the earlier ones.
    assert recorder.backwards == {"layer1": 0, "layer2": 0, "layer3": 1, "layer4": 1}
    assert result.target.index == 2
    assert_maps_equal_library(result, model, image, model.network.layer2[-1], LIBRARY)
    assert result.raw_maps["gradcam"].shape == (16, 16)  # layer2's resolution for a 128-px input
    default = explain(model, image, target=2, methods=["gradcam"])
    assert default.cam_layer == "layer4" and default.raw_maps["gradcam"].shape == (4, 4)


def test_timm_vit_earlier_block_equals_direct_library_call():
    model = timm_vit(img_size=(32, 48), depth=3)
    assert cam_layers(model) == ["block:0", "block:1", "block:2"]
    image = random_image(17)
    result = explain(model, image, target=3, methods=["gradcam", "layercam", "eigencam"], cam_layer="block:1")
    assert result.cam_layer == "block:1" and result.target.index == 3
    layer, reshape = model.network.blocks[1].norm1, vit_reshape_transform(model.geometry)
    assert_maps_equal_library(result, model, image, layer, ("gradcam", "layercam", "eigencam"), reshape)
    last = explain(model, image, target=3, methods=["gradcam"], cam_layer="block:-1")
    assert last.cam_layer == "block:2"
    assert not np.allclose(last.maps["gradcam"], result.maps["gradcam"])  # another layer, another map


def test_hf_vit_earlier_block_equals_direct_library_call():
    model = hf_vit()
    image = random_image(18)
    result = explain(model, image, target=2, methods=["gradcam"], cam_layer="block:0")
    x = input_tensor(model, image)
    layer = model.network.vit.layers[0].layernorm_before
    expected = library_map(
        GradCAM, _HfLogits(model.network), layer, x, 2, vit_reshape_transform(model.geometry)
    )
    assert (result.raw_maps["gradcam"] > 0).sum() >= 4
    np.testing.assert_allclose(result.maps["gradcam"], expected, atol=2e-4)


@pytest.mark.parametrize(
    ("make", "name", "choices"),
    [
        (small_resnet, "layer5", "layer1, layer2, layer3, layer4"),
        (small_resnet, "block:1", "layer1, layer2, layer3, layer4"),
        (timm_vit, "block:2", "block:0 … block:1"),
        (timm_vit, "layer4", "block:0 … block:1"),
    ],
)
def test_an_unknown_cam_layer_is_one_line_naming_the_choices(make, name, choices):
    with pytest.raises(VitdemoError) as caught:
        explain(make(), random_image(19), methods=["gradcam"], cam_layer=name)
    message = str(caught.value)
    assert f"'{name}' is not a Grad-CAM layer" in message and choices in message
    assert "\n" not in message
