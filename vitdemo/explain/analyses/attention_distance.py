"""Mean attention distance per layer and head (Dosovitskiy et al. 2021, the ViT paper, Fig. 7 right).

For each query patch, the attention-weighted mean distance in pixels (at the model's input
resolution) from its centre to the centres of the patches it attends to, averaged over the query
patches. Small values are local heads (they look at their neighbours, like a convolution); values
near the mean pairwise patch distance are global heads (they look everywhere).

Prefix tokens (class, distillation, register tokens) have no position on the image, so they are
excluded both as queries and as keys, and each query's attention is renormalised over the patch
keys. The ViT paper computes the distance over patch tokens; renormalising makes a head that puts
half its attention on the class token and half on one neighbour read as "one patch away", not
"half a patch away". The geometry (grid, prefix count, patch size) comes from the model.
"""

from __future__ import annotations

import torch

from vitdemo.models.loaded import VitGeometry


def patch_to_patch_attention(attentions: torch.Tensor, geometry: VitGeometry) -> torch.Tensor:
    """Attention of patch queries to patch keys, each row renormalised to sum to 1.

    Args:
        attentions: (..., tokens, tokens) softmax attention, prefix tokens first.
        geometry: the model's token layout.

    Returns:
        float32 (..., patches, patches). A row that gave all its attention to prefix tokens
        stays all zero (it attends to no position).
    """
    prefix = geometry.num_prefix_tokens
    patches = attentions[..., prefix:, prefix:].float()  # (..., P, P)
    total = patches.sum(dim=-1, keepdim=True)
    return patches / total.clamp_min(1e-12)


def patch_centre_distances(geometry: VitGeometry) -> torch.Tensor:
    """Euclidean distance in input pixels between the centres of every pair of patches: (P, P)."""
    rows, cols = geometry.grid_size
    patch_h, patch_w = geometry.patch_size
    r, c = torch.meshgrid(torch.arange(rows), torch.arange(cols), indexing="ij")
    centres = torch.stack([r.flatten() * patch_h, c.flatten() * patch_w], dim=-1).double()  # (P, 2)
    return torch.cdist(centres, centres).float()


def mean_attention_distance(attentions: torch.Tensor, geometry: VitGeometry) -> torch.Tensor:
    """Mean attention distance in pixels of every layer and head.

    Args:
        attentions: (layers, heads, tokens, tokens) of one image, or (images, layers, heads,
            tokens, tokens) of a set (the result is then averaged over the images).
        geometry: the model's token layout (grid size, prefix tokens, patch size in pixels).

    Returns:
        float32 (layers, heads): pixels at the model's input resolution.
    """
    weights = patch_to_patch_attention(attentions, geometry)  # (..., P, P)
    per_query = (weights * patch_centre_distances(geometry)).sum(dim=-1)  # (..., P)
    per_head = per_query.mean(dim=-1)  # (..., layers, heads)
    return per_head.mean(dim=0) if per_head.dim() == 3 else per_head


def uniform_attention_distance(geometry: VitGeometry) -> float:
    """What a head attending uniformly to every patch scores: the mean pairwise patch distance (px)."""
    return float(patch_centre_distances(geometry).mean())
