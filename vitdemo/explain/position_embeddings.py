"""Similarity of a ViT's learned position embeddings (the plot from the ViT paper, Fig. 7).

Pure torch/numpy on a loaded model: no Streamlit, usable from a notebook.
"""

from __future__ import annotations

import numpy as np
import torch

from vitdemo.models.loaded import LoadedModel


def patch_position_embeddings(model: LoadedModel) -> torch.Tensor | None:
    """The learned position embeddings of the patch tokens, (num_patches, dim), or None.

    None when the model is not a ViT or has no learned absolute position table (e.g. rotary
    embeddings, or a table for another grid size).
    """
    if model.family != "vit" or model.geometry is None:
        return None
    table = model.adapter.position_table(model.network)
    if not isinstance(table, torch.Tensor) or table.dim() != 3:
        return None
    rows = table.detach()[0]  # (prefix + patches or patches, dim)
    n = model.geometry.num_patches
    if rows.shape[0] not in (n, n + model.geometry.num_prefix_tokens):
        return None
    return rows[-n:].float()  # prefix rows (when the table has them) come first


def position_similarity(model: LoadedModel) -> np.ndarray | None:
    """Cosine similarity of every patch position's embedding to every other one.

    Returns:
        float32 (grid_rows, grid_cols, grid_rows, grid_cols): entry [r, c] is the similarity map of
        position (r, c) to all positions; None when the model has no learned position table.
    """
    table = patch_position_embeddings(model)
    if table is None:
        return None
    unit = torch.nn.functional.normalize(table, dim=-1)  # (N, D)
    sim = (unit @ unit.T).numpy().astype(np.float32)  # (N, N)
    gh, gw = model.geometry.grid_size
    return sim.reshape(gh, gw, gh, gw)
