"""Attention rollout (Abnar & Zuidema 2020, "Quantifying Attention Flow in Transformers").

Each layer's heads are fused into one token×token matrix, the residual connection is modelled by
adding the identity, rows are renormalised, and the layers are multiplied from first to last:
    Â_l = norm_rows((fuse(A_l) + I) / 2),   R = Â_L · … · Â_1.
The map is the classifier's readout row(s) of R over the patch columns.
"""

from __future__ import annotations

import torch

from vitdemo.explain.head_fusion import HeadChoice, fuse_heads
from vitdemo.explain.token_grid import patch_scores_to_grid, readout_weights
from vitdemo.models.loaded import VitGeometry


def discard_lowest(fused: torch.Tensor, discard_ratio: float) -> torch.Tensor:
    """Zero the `discard_ratio` fraction of smallest entries of a (tokens, tokens) matrix.

    Entry [0, 0] is never discarded (as in Gildenblat's vit-explain), so the class token's
    row always keeps mass.
    """
    flat = fused.flatten().clone()
    count = int(flat.numel() * discard_ratio)
    if count == 0:
        return fused
    lowest = flat.topk(count, largest=False).indices
    flat[lowest[lowest != 0]] = 0
    return flat.view_as(fused)


def attention_rollout(
    attentions: torch.Tensor,
    head_fusion: HeadChoice = "mean",
    discard_ratio: float = 0.0,
) -> torch.Tensor:
    """The rolled-out token-to-token attention R (tokens, tokens).

    Args:
        attentions: (layers, heads, tokens, tokens) softmax attention.
        head_fusion: "mean", "max", "min", or one head's index.
        discard_ratio: fraction in [0, 1) of the weakest fused attentions dropped in each layer.
    """
    if not 0.0 <= discard_ratio < 1.0:
        raise ValueError("discard_ratio must be in [0, 1)")
    tokens = attentions.size(-1)
    eye = torch.eye(tokens, dtype=attentions.dtype, device=attentions.device)
    joint = eye
    for layer_attention in attentions:  # (heads, tokens, tokens)
        fused = discard_lowest(fuse_heads(layer_attention, head_fusion), discard_ratio)
        with_residual = (fused + eye) / 2
        with_residual = with_residual / with_residual.sum(dim=-1, keepdim=True)
        joint = with_residual @ joint
    return joint


def readout_map(joint: torch.Tensor, geometry: VitGeometry, readout: str) -> torch.Tensor:
    """The (rows, cols) patch map of a token-to-token matrix, seen from the classifier's readout.

    Args:
        joint: (tokens, tokens), e.g. rollout or relevance.
        geometry: the model's token layout.
        readout: "class", "class+dist" or "patches" (see `token_grid.readout_weights`).
    """
    weights = readout_weights(geometry, readout).to(joint)
    return patch_scores_to_grid(weights @ joint, geometry)
