"""Single-layer attention maps: where the class token looks (or, without one, where patches look)."""

from __future__ import annotations

import torch

from vitdemo.errors import VitdemoError
from vitdemo.explain.head_fusion import HeadChoice, fuse_heads
from vitdemo.explain.token_grid import patch_scores_to_grid
from vitdemo.models.loaded import VitGeometry

NO_CLASS_TOKEN = (
    "This ViT has no class token (it pools its patch tokens instead), so there is no class-token attention."
)


def _layer(attentions: torch.Tensor, layer: int) -> torch.Tensor:
    if not -attentions.size(0) <= layer < attentions.size(0):
        raise VitdemoError(f"Layer {layer} does not exist: this model has {attentions.size(0)} layers.")
    return attentions[layer]  # (heads, tokens, tokens)


def cls_attention_map(
    attentions: torch.Tensor,
    geometry: VitGeometry,
    layer: int = -1,
    head: HeadChoice = "mean",
) -> torch.Tensor:
    """Attention the class token pays to each patch, as a (rows, cols) grid.

    Args:
        attentions: (layers, heads, tokens, tokens) softmax attention.
        geometry: the model's token layout.
        layer: which layer (negative counts from the end).
        head: "mean", "max", "min" over heads, or one head's index.

    Raises:
        VitdemoError: the model has no class token, or the layer/head does not exist.
    """
    if not geometry.has_class_token:
        raise VitdemoError(NO_CLASS_TOKEN)
    from_class = _layer(attentions, layer)[:, 0, :]  # (heads, tokens): the class token as query
    return patch_scores_to_grid(fuse_heads(from_class, head), geometry)


def patch_attention_map(
    attentions: torch.Tensor,
    geometry: VitGeometry,
    layer: int = -1,
    head: HeadChoice = "mean",
) -> torch.Tensor:
    """Attention each patch receives, averaged over all patch queries, as a (rows, cols) grid.

    The class-token map's counterpart for ViTs that average their patch tokens instead.
    """
    prefix = geometry.num_prefix_tokens
    from_patches = _layer(attentions, layer)[:, prefix:, :].mean(dim=1)  # (heads, tokens)
    return patch_scores_to_grid(fuse_heads(from_patches, head), geometry)
