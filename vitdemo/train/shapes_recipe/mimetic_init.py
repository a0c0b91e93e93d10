"""Mimetic initialisation of a ViT's attention layers (Trockman & Kolter 2023), for the plain ViT."""

from __future__ import annotations

import math

import torch


@torch.no_grad()
def mimetic_init(net: torch.nn.Module, seed: int = 0) -> None:
    """Mimetic initialisation of every attention layer (Trockman & Kolter 2023).

    Trained ViTs' layers have W_q W_kᵀ ≈ α₁Z + β₁I (tokens attend to similar tokens, themselves
    most) and W_v W_oᵀ ≈ α₂Z − β₂I; starting there instead of at random lets a small ViT learn
    from little data much faster. Each head's q/k take the top head_dim factors of one such
    matrix (split by SVD into two square-root factors); v and the output projection share one.
    """
    generator = torch.Generator().manual_seed(seed)
    for block in net.blocks:
        attn = block.attn
        d, hd = attn.qkv.in_features, attn.head_dim
        for h in range(attn.num_heads):
            left, right = _mimetic_factors(d, 0.7, 0.7, generator)
            attn.qkv.weight[h * hd : (h + 1) * hd] = left[:, :hd].T  # q of head h
            attn.qkv.weight[d + h * hd : d + (h + 1) * hd] = right[:hd]  # k of head h
        left, right = _mimetic_factors(d, 0.4, -0.4, generator)
        attn.qkv.weight[2 * d :] = left.T  # v
        attn.proj.weight.copy_(right.T)


def _mimetic_factors(d: int, alpha: float, beta: float, generator: torch.Generator):
    """L, R with L @ R = αZ + βI, Z ~ N(0, 1/d), split by SVD into √S-weighted halves."""
    target = alpha * torch.randn(d, d, generator=generator) / math.sqrt(d) + beta * torch.eye(d)
    u, s, vh = torch.linalg.svd(target)
    return u * s.sqrt(), s.sqrt()[:, None] * vh
