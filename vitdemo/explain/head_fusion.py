"""How a map combines attention heads: their mean, max or min, or one head."""

from __future__ import annotations

import torch

from vitdemo.errors import VitdemoError

HeadChoice = str | int  # "mean" | "max" | "min" | a head index


def fuse_heads(per_head: torch.Tensor, head: HeadChoice = "mean") -> torch.Tensor:
    """Reduce the leading heads dimension of `per_head` (heads, ...) to one map (...).

    Args:
        per_head: attention (or scores) with heads first.
        head: "mean", "max", "min", or the index of one head (negative counts from the end).
    """
    if isinstance(head, int) or (isinstance(head, str) and head.lstrip("-").isdigit()):
        index = int(head)
        if not -per_head.size(0) <= index < per_head.size(0):
            raise VitdemoError(f"Head {index} does not exist: this model has {per_head.size(0)} heads.")
        return per_head[index]
    if head == "mean":
        return per_head.mean(dim=0)
    if head == "max":
        return per_head.amax(dim=0)
    if head == "min":
        return per_head.amin(dim=0)
    raise VitdemoError(f"Head fusion '{head}' is unknown; use mean, max, min or a head number.")
