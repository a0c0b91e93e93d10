"""Gradient-weighted attention relevance (Chefer, Gur & Wolf 2021, "Generic Attention-model
Explainability for Interpreting Bi-Modal and Encoder-Decoder Transformers").

Starting from R = I, each layer (first to last) adds its class-specific attention:
    Ā_l = mean_heads((∂score/∂A_l ⊙ A_l)⁺),   R ← R + Ā_l · R.
The map is the classifier's readout row(s) of R over the patch columns (`rollout.readout_map`).
"""

from __future__ import annotations

import torch


def attention_relevance(attentions: torch.Tensor, attention_grads: torch.Tensor) -> torch.Tensor:
    """The relevance matrix R (tokens, tokens) for one target score.

    Args:
        attentions: (layers, heads, tokens, tokens) softmax attention.
        attention_grads: the target score's gradient with respect to each of them, same shape.
    """
    tokens = attentions.size(-1)
    relevance = torch.eye(tokens, dtype=attentions.dtype, device=attentions.device)
    for attention, grad in zip(attentions, attention_grads, strict=True):
        weighted = (grad * attention).clamp(min=0).mean(dim=0)  # (tokens, tokens)
        relevance = relevance + weighted @ relevance
    return relevance
