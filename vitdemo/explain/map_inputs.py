"""What a map method's compute function receives: everything one explain pass recorded.

Every entry of the method registry (`methods.py`) computes its map from one `MapInputs`, so the
engine calls them all the same way and a new method needs no change to the engine.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import torch

from vitdemo.errors import VitdemoError

if TYPE_CHECKING:
    from vitdemo.explain.attention_capture import VitPass
    from vitdemo.models.loaded import VitGeometry


class MapUnavailable(VitdemoError):
    """This map does not exist for this model; the message says why in one sentence."""


@dataclass(frozen=True)
class MapInputs:
    """One explain call's recordings, read by the map methods.

    Attributes:
        target_index: the explained class.
        x: the normalised input (1, 3, H, W).
        options: the engine's `MapOptions` (layer, head, head fusion, discard ratio, Score-CAM batch).
        score_model: batch → logits without gradients (Score-CAM's masked forward passes).
        activations: the CAM target layer's output (1, C, h, w), ViT tokens laid on their grid.
        gradients: ∂score/∂activations (1, C, h, w) when a requested CAM needs them, else None.
        vit_pass: a ViT's recorded pass (attentions, readout); None for CNNs.
        attention_grads: ∂score/∂attention (layers, heads, T, T) when a requested attention map needs them.
        geometry: a ViT's token layout; None for CNNs.
    """

    target_index: int
    x: torch.Tensor
    options: Any
    score_model: Callable[[torch.Tensor], torch.Tensor] | None = None
    activations: torch.Tensor | None = None
    gradients: torch.Tensor | None = None
    vit_pass: VitPass | None = None
    attention_grads: torch.Tensor | None = None
    geometry: VitGeometry | None = None
