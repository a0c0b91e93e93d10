"""Attention views for a chosen query token, computed from an explanation's attentions (no model run).

Built from `vitdemo.explain`'s primitives (head fusion, rollout, token↔grid geometry); pure torch and
numpy, no Streamlit, so every slider move is a few milliseconds of array work.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np
import torch

from vitdemo.explain.head_fusion import fuse_heads
from vitdemo.explain.rollout import attention_rollout
from vitdemo.explain.token_grid import patch_scores_to_grid
from vitdemo.models.loaded import VitGeometry

QueryKind = Literal["cls", "patches", "patch"]


@dataclass(frozen=True)
class Query:
    """Whose attention to show.

    Attributes:
        kind: "cls" (the class token), "patches" (the average over all patch tokens, for ViTs
            without a class token) or "patch" (one patch token).
        row, col: the patch, 0-based, when kind is "patch".
    """

    kind: QueryKind = "cls"
    row: int = 0
    col: int = 0

    def rows(self, geometry: VitGeometry) -> slice | list[int]:
        """Token indices of the query in (tokens, tokens) attention matrices."""
        prefix = geometry.num_prefix_tokens
        if self.kind == "cls":
            return [0]
        if self.kind == "patches":
            return slice(prefix, geometry.num_tokens)
        rows, cols = geometry.grid_size
        row, col = min(max(self.row, 0), rows - 1), min(max(self.col, 0), cols - 1)
        return [prefix + row * cols + col]

    def describe(self) -> str:
        if self.kind == "cls":
            return "the class token"
        if self.kind == "patches":
            return "all patches (average)"
        return f"patch row {self.row + 1}, column {self.col + 1}"


def query_tiles(attentions: torch.Tensor, geometry: VitGeometry, query: Query) -> np.ndarray:
    """Every layer's and head's attention from the query to each patch.

    Args:
        attentions: (layers, heads, tokens, tokens) softmax attention.
        geometry: the model's token layout.
        query: whose attention.

    Returns:
        float32 (layers, heads, grid_rows, grid_cols).
    """
    from_query = attentions[:, :, query.rows(geometry), :].mean(dim=2)  # (layers, heads, tokens)
    return patch_scores_to_grid(from_query, geometry).float().numpy()


def query_map(
    attentions: torch.Tensor, geometry: VitGeometry, query: Query, layer: int, head: str | int
) -> torch.Tensor:
    """One layer's attention from the query to each patch, heads fused or one head: (rows, cols)."""
    from_query = attentions[layer][:, query.rows(geometry), :].mean(dim=1)  # (heads, tokens)
    return patch_scores_to_grid(fuse_heads(from_query, head), geometry)


def query_rollout(
    attentions: torch.Tensor,
    geometry: VitGeometry,
    query: Query,
    head_fusion: str | int = "mean",
    discard_ratio: float = 0.0,
) -> torch.Tensor:
    """Attention rollout read from the query token's row(s): (rows, cols).

    For the class token this is the classic rollout map (Abnar & Zuidema 2020).
    """
    joint = attention_rollout(attentions, head_fusion, discard_ratio)  # (tokens, tokens)
    return patch_scores_to_grid(joint[query.rows(geometry)].mean(dim=0), geometry)
