"""Attention entropy per layer and head: how focused each head is.

The entropy (natural log) of each patch query's attention over the patch keys, averaged over the
queries: 0 when every query looks at exactly one patch, log(patches) when it looks at all of them
equally. Prefix tokens are left out and the rows renormalised, as for the mean attention distance
(see `attention_distance`), so the two plots describe the same distributions.
"""

from __future__ import annotations

import math

import torch

from vitdemo.explain.analyses.attention_distance import patch_to_patch_attention
from vitdemo.models.loaded import VitGeometry


def attention_entropy(attentions: torch.Tensor, geometry: VitGeometry) -> torch.Tensor:
    """Mean entropy in nats of every layer's and head's patch-to-patch attention.

    Args:
        attentions: (layers, heads, tokens, tokens), or (images, layers, heads, tokens, tokens)
            for a set (averaged over the images).
        geometry: the model's token layout.

    Returns:
        float32 (layers, heads), between 0 and `max_attention_entropy(geometry)`.
    """
    weights = patch_to_patch_attention(attentions, geometry)  # (..., P, P)
    per_query = -torch.special.xlogy(weights, weights).sum(dim=-1)  # 0·log 0 = 0: (..., P)
    per_head = per_query.mean(dim=-1)
    return per_head.mean(dim=0) if per_head.dim() == 3 else per_head


def max_attention_entropy(geometry: VitGeometry) -> float:
    """The entropy of uniform attention over all patches: log(patches)."""
    return math.log(geometry.num_patches)
