"""The Grad-CAM family, computed by the `pytorch-grad-cam` library from our own single pass.

The library's `BaseCAM.__call__` runs its own forward and backward pass and hooks the target
layer of the model it is given. We already have the target layer's activations and gradients from
the one pass that also produced the top-k, so we call the library's per-method math
(`get_cam_image` → `get_cam_weights`) on them instead, through instances that register no hooks at
all. The result is what `GradCAM(model, [layer], reshape_transform)(x, targets)` computes, before
its min-max scaling (see `scale_to_view`). Score-CAM still runs its own batched forward passes on
masked inputs — that is the method — through the shared network's plain forward.
"""

from __future__ import annotations

import functools
from collections.abc import Callable

import numpy as np
import pytorch_grad_cam
import torch
from pytorch_grad_cam.activations_and_gradients import ActivationsAndGradients
from pytorch_grad_cam.base_cam import BaseCAM
from pytorch_grad_cam.utils.model_targets import ClassifierOutputTarget

from vitdemo.explain.map_inputs import MapInputs


def library_cam_method(class_name: str) -> Callable[[MapInputs], np.ndarray]:
    """A registry compute function for the pytorch-grad-cam class of that name (e.g. "GradCAM").

    The class is looked up when the map is computed, so the registry stays plain data.
    """

    def compute(inputs: MapInputs) -> np.ndarray:
        return library_cam(
            getattr(pytorch_grad_cam, class_name),
            inputs.activations,
            inputs.gradients,
            inputs.target_index,
            input_tensor=inputs.x,
            score_model=inputs.score_model,
            batch_size=inputs.options.score_cam_batch_size,
        )

    compute.__name__ = f"library_{class_name}"
    return compute


@functools.cache
def _hookless(cam_class: type[BaseCAM]) -> type[BaseCAM]:
    """A subclass of `cam_class` that keeps the library's math but never touches a model's hooks."""

    class Hookless(cam_class):  # type: ignore[misc, valid-type]
        def __init__(
            self,
            score_model: Callable[[torch.Tensor], torch.Tensor] | None,
            device: torch.device,
            batch_size: int,
        ) -> None:
            # BaseCAM.__init__ would call model.eval() and hook the target layers of the shared
            # model; we only need what get_cam_image reads.
            self.model = score_model
            self.device = device
            self.batch_size = batch_size  # Score-CAM's forward batch
            self.activations_and_grads = ActivationsAndGradients(torch.nn.Identity(), [], None)

    Hookless.__name__ = f"Hookless{cam_class.__name__}"
    return Hookless


def library_cam(
    cam_class: type[BaseCAM],
    activations: torch.Tensor,
    gradients: torch.Tensor | None,
    target_index: int,
    *,
    input_tensor: torch.Tensor | None = None,
    score_model: Callable[[torch.Tensor], torch.Tensor] | None = None,
    batch_size: int = 32,
) -> np.ndarray:
    """One CAM (h, w) float32 ≥ 0 at the target layer's resolution, as pytorch-grad-cam defines it.

    Args:
        cam_class: the pytorch-grad-cam method class (GradCAM, LayerCAM, ...).
        activations: (1, C, h, w) the target layer's output (ViT tokens already reshaped).
        gradients: (1, C, h, w) ∂score/∂activations (None for gradient-free methods).
        target_index: the explained class.
        input_tensor: the normalised (1, 3, H, W) input; Score-CAM masks it.
        score_model: batch → logits; Score-CAM's forward passes (the shared network, no hooks).
        batch_size: Score-CAM's batch size.
    """
    device = input_tensor.device if input_tensor is not None else torch.device("cpu")
    cam = _hookless(cam_class)(score_model, device, batch_size)
    act = activations.detach().cpu().float().numpy()
    grad = None if gradients is None else gradients.detach().cpu().float().numpy()
    targets = [ClassifierOutputTarget(target_index)]
    raw = cam.get_cam_image(input_tensor, None, targets, act, grad, False)  # (1, h, w)
    return np.maximum(raw, 0)[0].astype(np.float32)  # the library's ReLU, before its scaling
