"""The attention-family maps as registry compute functions: class-token map, rollout, relevance.

Each reads a ViT's recorded pass from `MapInputs` and returns the raw (rows, cols) grid; the
engine scales it to the view. A map that cannot exist for this ViT raises `MapUnavailable`.
"""

from __future__ import annotations

import numpy as np
import torch

from vitdemo.explain.cls_map import NO_CLASS_TOKEN, cls_attention_map
from vitdemo.explain.map_inputs import MapInputs, MapUnavailable
from vitdemo.explain.relevance import attention_relevance
from vitdemo.explain.rollout import attention_rollout, readout_map
from vitdemo.explain.token_grid import readout_weights

UNFOLLOWABLE_POOLING = "This ViT reads its tokens with {pooling}, which attention flow cannot follow."


def cls_map(inputs: MapInputs) -> np.ndarray:
    """Where the class token looks in one layer (`options.cls_layer`, `options.cls_head`)."""
    if not inputs.geometry.has_class_token:
        raise MapUnavailable(NO_CLASS_TOKEN)
    options = inputs.options
    grid = cls_attention_map(inputs.vit_pass.attentions, inputs.geometry, options.cls_layer, options.cls_head)
    return _numpy(grid)


def rollout_map(inputs: MapInputs) -> np.ndarray:
    """Attention rollout from the token the head reads (Abnar & Zuidema 2020)."""
    readout = _followed_readout(inputs)
    options = inputs.options
    row = attention_rollout(inputs.vit_pass.attentions, options.head_fusion, options.discard_ratio, readout)
    return _numpy(readout_map(row, inputs.geometry, inputs.vit_pass.readout))


def relevance_map(inputs: MapInputs) -> np.ndarray:
    """Gradient-weighted attention relevance for the target class (Chefer et al. 2021)."""
    readout = _followed_readout(inputs)
    row = attention_relevance(inputs.vit_pass.attentions, inputs.attention_grads, readout)
    return _numpy(readout_map(row, inputs.geometry, inputs.vit_pass.readout))


def _followed_readout(inputs: MapInputs) -> torch.Tensor:
    vit_pass = inputs.vit_pass
    if vit_pass.readout is None:
        raise MapUnavailable(UNFOLLOWABLE_POOLING.format(pooling=vit_pass.pooling))
    return readout_weights(inputs.geometry, vit_pass.readout)


def _numpy(t: torch.Tensor) -> np.ndarray:
    return t.detach().float().cpu().numpy()
