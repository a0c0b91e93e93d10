"""One forward pass of a CNN split at the Grad-CAM stage, so the gradient stops right there.

timm ResNets run a stem and then their stages (`layer1` … `layer4`); `forward_intermediates`
returns any stage's output, and `forward_head` pools and classifies the last one. Running the
network up to the chosen stage without a graph, and only the later stages and the head with one,
gives the top-k and every CAM's activations and gradients from a single forward pass, with a
backward pass through the later stages and the head alone. For the last stage (the standard
Grad-CAM layer, `layer4[-1]`'s output) that is the head only. No hooks, nothing on the shared
model changes.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from vitdemo.errors import VitdemoError
from vitdemo.models.loaded import LoadedModel


@dataclass
class CnnPass:
    """What one CNN forward pass leaves behind for the maps.

    Attributes:
        logits: (1, classes); in the graph (from `features`) when run with `graph=True`.
        features: (1, C, h, w) the chosen stage's output: a leaf that requires grad when `graph=True`.
    """

    logits: torch.Tensor
    features: torch.Tensor

    def feature_gradient(self, score: torch.Tensor) -> torch.Tensor:
        """∂score/∂features, (1, C, h, w): a backward pass through the later stages and the head only."""
        (grad,) = torch.autograd.grad(score, [self.features])
        return grad.detach()


def cnn_stages(network: torch.nn.Module) -> list[str]:
    """Names of a timm ResNet's stages, input side first (`layer1` … `layer4`), read from its feature info.

    Raises:
        VitdemoError: the network does not expose its stages the way timm ResNets do.
    """
    modules = [info["module"] for info in getattr(network, "feature_info", [])]
    stages = [name for name in modules if name.startswith("layer")]
    splits = all(hasattr(network, f) for f in ("forward_intermediates", "forward_head"))
    if not stages or not splits:
        raise VitdemoError(
            f"{type(network).__name__} does not split into stages and head; cannot run Grad-CAM."
        )
    return stages


def run_cnn(model: LoadedModel, x: torch.Tensor, *, graph: bool, stage: str | None = None) -> CnnPass:
    """Run the shared CNN once on `x` (1, 3, H, W).

    Args:
        model: a loaded timm ResNet (stages named in `feature_info`, `forward_intermediates`,
            `forward_head`).
        x: the normalised input batch of one image.
        graph: make the stage output a grad-requiring leaf and record the graph after it.
        stage: the Grad-CAM stage, a name from `cnn_stages` (default: the last one).
    """
    network = model.network
    stages = cnn_stages(network)
    stage = stages[-1] if stage is None else stage
    if stage not in stages:
        raise VitdemoError(f"{type(network).__name__} has no stage '{stage}'; it has {', '.join(stages)}.")
    feature_index = [info["module"] for info in network.feature_info].index(stage)
    with torch.no_grad():
        (features,) = network.forward_intermediates(
            x, indices=[feature_index], intermediates_only=True, stop_early=True
        )  # (1, C, h, w)
    if features.ndim != 4:
        raise VitdemoError(
            f"{type(network).__name__} does not produce a spatial feature map; cannot run Grad-CAM."
        )
    if graph:
        features = features.detach().requires_grad_(True)
    with torch.set_grad_enabled(graph):
        hidden = features
        for later in stages[stages.index(stage) + 1 :]:
            hidden = getattr(network, later)(hidden)  # (1, C', h', w')
        logits = network.forward_head(hidden)
    return CnnPass(logits=logits, features=features)
