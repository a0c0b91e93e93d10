"""Gradient-weighted attention relevance (Chefer, Gur & Wolf 2021, "Generic Attention-model
Explainability for Interpreting Bi-Modal and Encoder-Decoder Transformers").

Starting from R = I, each layer (first to last) adds its class-specific attention:
    Ā_l = mean_heads((∂score/∂A_l ⊙ A_l)⁺),   R ← R + Ā_l · R,
so R = (I + Ā_L)·…·(I + Ā_1). The map is the classifier's readout row(s) of R over the patch
columns; given the readout weights w, w·R is computed right to left as vector × matrix products.
"""

from __future__ import annotations

import torch


def attention_relevance(
    attentions: torch.Tensor,
    attention_grads: torch.Tensor,
    readout: torch.Tensor | None = None,
) -> torch.Tensor:
    """The relevance matrix R (tokens, tokens), or readout·R (tokens,) when `readout` is given.

    Args:
        attentions: (layers, heads, tokens, tokens) softmax attention.
        attention_grads: the target score's gradient with respect to each of them, same shape.
        readout: optional (tokens,) weights of the classifier's readout (`token_grid.readout_weights`).
    """
    weighted = (attention_grads * attentions).clamp_(min=0).mean(dim=1)  # (layers, N, N)
    if readout is not None:
        row = readout.to(weighted)
        for layer in weighted.flip(0):  # w·(I + Ā_L)·…·(I + Ā_1), right to left
            row = row + row @ layer
        return row
    relevance = torch.eye(weighted.size(-1), dtype=weighted.dtype, device=weighted.device)
    for layer in weighted:
        relevance = relevance + layer @ relevance
    return relevance
