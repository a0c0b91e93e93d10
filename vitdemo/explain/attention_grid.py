"""Every layer × every head of a ViT's attention as one picture (for the CLI and reports)."""

from __future__ import annotations

import cv2
import numpy as np
import torch

from vitdemo.explain.cls_map import cls_attention_map, patch_attention_map
from vitdemo.explain.overlay import colorize, overlay
from vitdemo.explain.scaling import scale_to_view
from vitdemo.models.loaded import VitGeometry

_BACKGROUND = 255
_INK = (40, 40, 40)


def attention_grid_image(
    attentions: torch.Tensor,
    geometry: VitGeometry,
    view: np.ndarray | None = None,
    *,
    cell: int = 72,
    alpha: float = 0.6,
    colormap: str = "jet",
) -> np.ndarray:
    """uint8 RGB image: one row per layer, one column per head plus a last "mean" column.

    Each tile is the class token's attention over the patches (for ViTs without a class token:
    the attention each patch receives from the others), scaled to [0, 1] per tile and drawn over
    the image when `view` is given.

    Args:
        attentions: (layers, heads, tokens, tokens) softmax attention.
        geometry: the model's token layout.
        view: the uint8 (H, W, 3) image the network saw, or None for bare heatmaps.
        cell: tile width in pixels (height follows the image's aspect ratio).
        alpha: colour weight of the overlay.
        colormap: a name from `vitdemo.explain.overlay.COLORMAPS`.
    """
    layers, heads = attentions.shape[:2]
    aspect = (
        (view.shape[0] / view.shape[1]) if view is not None else geometry.grid_size[0] / geometry.grid_size[1]
    )
    tile_w, tile_h = cell, max(8, round(cell * aspect))
    small = cv2.resize(view, (tile_w, tile_h), interpolation=cv2.INTER_AREA) if view is not None else None
    left, top, gap = 40, 22, 2
    canvas = np.full(
        (top + layers * (tile_h + gap), left + (heads + 1) * (tile_w + gap), 3), _BACKGROUND, dtype=np.uint8
    )
    one_map = cls_attention_map if geometry.has_class_token else patch_attention_map
    for column, head in enumerate([*range(heads), "mean"]):
        x0 = left + column * (tile_w + gap)
        _label(canvas, f"h{head}" if head != "mean" else "mean", (x0 + 2, top - 7))
        for layer in range(layers):
            y0 = top + layer * (tile_h + gap)
            heat = scale_to_view(one_map(attentions, geometry, layer, head), (tile_h, tile_w))
            tile = overlay(small, heat, alpha, colormap) if small is not None else colorize(heat, colormap)
            canvas[y0 : y0 + tile_h, x0 : x0 + tile_w] = tile
            if column == 0:
                _label(canvas, f"L{layer}", (4, y0 + tile_h // 2 + 4))
    return canvas


def _label(canvas: np.ndarray, text: str, origin: tuple[int, int]) -> None:
    cv2.putText(canvas, text, origin, cv2.FONT_HERSHEY_SIMPLEX, 0.38, _INK, 1, cv2.LINE_AA)
