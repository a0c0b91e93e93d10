"""One forward pass of a CNN split at its last stage, so Grad-CAM's gradient stops right there.

timm CNNs split their forward into `forward_features` (stem + stages; for a ResNet its output *is*
`layer4[-1]`'s output, the standard Grad-CAM layer) and `forward_head` (pooling + classifier).
Running the stages without a graph and only the head with one gives the top-k and every CAM's
activations and gradients from a single forward pass, with a backward pass through the head alone.
No hooks, nothing on the shared model changes.
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
        features: (1, C, h, w) the last stage's output: a leaf that requires grad when `graph=True`.
    """

    logits: torch.Tensor
    features: torch.Tensor

    def feature_gradient(self, score: torch.Tensor) -> torch.Tensor:
        """∂score/∂features, (1, C, h, w): a backward pass through the head only."""
        (grad,) = torch.autograd.grad(score, [self.features])
        return grad.detach()


def run_cnn(model: LoadedModel, x: torch.Tensor, *, graph: bool) -> CnnPass:
    """Run the shared CNN once on `x` (1, 3, H, W).

    Args:
        model: a loaded timm CNN (anything with `forward_features` and `forward_head`).
        x: the normalised input batch of one image.
        graph: make the stage output a grad-requiring leaf and record the head's graph.
    """
    network = model.network
    if not (hasattr(network, "forward_features") and hasattr(network, "forward_head")):
        raise VitdemoError(
            f"{type(network).__name__} does not split into features and head; cannot run Grad-CAM."
        )
    with torch.no_grad():
        features = network.forward_features(x)  # (1, C, h, w)
    if features.ndim != 4:
        raise VitdemoError(
            f"{type(network).__name__} does not produce a spatial feature map; cannot run Grad-CAM."
        )
    if graph:
        features = features.detach().requires_grad_(True)
    with torch.set_grad_enabled(graph):
        logits = network.forward_head(features)
    return CnnPass(logits=logits, features=features)
