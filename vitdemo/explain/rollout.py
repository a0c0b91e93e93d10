"""Attention rollout (Abnar & Zuidema 2020, "Quantifying Attention Flow in Transformers").

Each layer's heads are fused into one token×token matrix, the residual connection is modelled by
adding the identity, rows are renormalised, and the layers are multiplied from first to last:
    Â_l = norm_rows((fuse(A_l) + I) / 2),   R = Â_L · … · Â_1.
The map is the classifier's readout row(s) of R over the patch columns. Given the readout
weights w, w·R is computed right to left as vector × matrix products — L·N² work instead of L·N³.
"""

from __future__ import annotations

import torch

from vitdemo.explain.head_fusion import HeadChoice, fuse_heads
from vitdemo.explain.token_grid import patch_scores_to_grid, readout_weights
from vitdemo.models.loaded import VitGeometry


def discard_lowest(fused: torch.Tensor, discard_ratio: float) -> torch.Tensor:
    """Zero the `discard_ratio` fraction of smallest entries of each (tokens, tokens) matrix.

    Works on (tokens, tokens) or a stack (..., tokens, tokens). Entry [0, 0] is never discarded
    (as in Gildenblat's vit-explain), so the class token's row always keeps mass.
    """
    tokens = fused.size(-1)
    flat = fused.reshape(-1, tokens * tokens).clone()  # (matrices, N*N)
    count = int(tokens * tokens * discard_ratio)
    if count == 0:
        return fused
    lowest = flat.topk(count, dim=-1, largest=False).indices  # (matrices, count)
    keep_first = torch.where(lowest == 0, 1.0, 0.0).to(flat)  # entry [0, 0] keeps its value
    flat.scatter_(1, lowest, flat.gather(1, lowest) * keep_first)
    return flat.view_as(fused)


def rollout_steps(
    attentions: torch.Tensor, head_fusion: HeadChoice = "mean", discard_ratio: float = 0.0
) -> torch.Tensor:
    """The per-layer matrices Â_l (layers, tokens, tokens): heads fused, residual added, rows normalised."""
    if not 0.0 <= discard_ratio < 1.0:
        raise ValueError("discard_ratio must be in [0, 1)")
    fused = fuse_heads(attentions.transpose(0, 1), head_fusion)  # (layers, N, N)
    fused = discard_lowest(fused, discard_ratio)
    eye = torch.eye(fused.size(-1), dtype=fused.dtype, device=fused.device)
    with_residual = (fused + eye) / 2
    return with_residual / with_residual.sum(dim=-1, keepdim=True)


def attention_rollout(
    attentions: torch.Tensor,
    head_fusion: HeadChoice = "mean",
    discard_ratio: float = 0.0,
    readout: torch.Tensor | None = None,
) -> torch.Tensor:
    """The rolled-out attention R (tokens, tokens), or readout·R (tokens,) when `readout` is given.

    Args:
        attentions: (layers, heads, tokens, tokens) softmax attention.
        head_fusion: "mean", "max", "min", or one head's index.
        discard_ratio: fraction in [0, 1) of the weakest fused attentions dropped in each layer.
        readout: optional (tokens,) weights of the classifier's readout (`token_grid.readout_weights`).
    """
    steps = rollout_steps(attentions, head_fusion, discard_ratio)
    if readout is not None:
        row = readout.to(steps)
        for step in steps.flip(0):  # w·Â_L·…·Â_1, right to left
            row = row @ step
        return row
    joint = steps[0]
    for step in steps[1:]:
        joint = step @ joint
    return joint


def readout_map(scores: torch.Tensor, geometry: VitGeometry, readout: str) -> torch.Tensor:
    """The (rows, cols) patch map of a token-to-token matrix, seen from the classifier's readout.

    Args:
        scores: (tokens, tokens), e.g. rollout or relevance, or an already read-out (tokens,) row.
        geometry: the model's token layout.
        readout: "class", "class+dist" or "patches" (see `token_grid.readout_weights`).
    """
    if scores.ndim == 2:
        scores = readout_weights(geometry, readout).to(scores) @ scores
    return patch_scores_to_grid(scores, geometry)
