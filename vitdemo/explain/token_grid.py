"""Token ↔ patch-grid geometry of a ViT, read from `VitGeometry` (never a hard-coded 14×14).

Token order in every supported ViT: prefix tokens first (class, distillation, registers), then the
patches in row-major order. These helpers are the only place that knows it.
"""

from __future__ import annotations

from collections.abc import Callable

import torch

from vitdemo.models.loaded import VitGeometry


def patch_scores_to_grid(scores: torch.Tensor, geometry: VitGeometry) -> torch.Tensor:
    """Per-token scores (..., tokens) → the patch grid (..., rows, cols); prefix tokens dropped."""
    rows, cols = geometry.grid_size
    patches = scores[..., geometry.num_prefix_tokens :]  # (..., rows*cols)
    return patches.reshape(*scores.shape[:-1], rows, cols)


def vit_reshape_transform(geometry: VitGeometry) -> Callable[[torch.Tensor], torch.Tensor]:
    """A pytorch-grad-cam `reshape_transform`: (B, tokens, C) → (B, C, rows, cols), prefix dropped.

    Args:
        geometry: the model's token layout; the same transform serves any grid and prefix count.
    """
    rows, cols = geometry.grid_size
    prefix = geometry.num_prefix_tokens

    def tokens_to_feature_map(tokens: torch.Tensor) -> torch.Tensor:
        patches = tokens[:, prefix:, :]  # (B, rows*cols, C)
        return patches.reshape(tokens.size(0), rows, cols, tokens.size(2)).permute(0, 3, 1, 2)

    return tokens_to_feature_map


def readout_weights(geometry: VitGeometry, readout: str) -> torch.Tensor:
    """How the classifier reads the final tokens, as weights over tokens (sums to 1).

    Args:
        geometry: the model's token layout.
        readout: "class" (the class token), "class+dist" (DeiT: class and distillation token
            averaged) or "patches" (global average pooling over the patch tokens).
    """
    weights = torch.zeros(geometry.num_tokens)
    if readout == "class":
        weights[0] = 1.0
    elif readout == "class+dist":
        weights[:2] = 0.5
    elif readout == "patches":
        weights[geometry.num_prefix_tokens :] = 1.0 / geometry.num_patches
    else:
        raise ValueError(f"unknown readout {readout!r}")
    return weights
