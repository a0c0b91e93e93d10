"""Overlays and the layers × heads grid are images a person can read: right size, colours, placement."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from vitdemo.explain import attention_grid_image, colorize, overlay
from vitdemo.models.loaded import VitGeometry


def test_overlay_blends_the_colormap_over_the_image():
    view = np.full((20, 30, 3), 200, dtype=np.uint8)
    heat = np.zeros((20, 30), dtype=np.float32)
    heat[:, 15:] = 1.0
    assert np.array_equal(overlay(view, heat, alpha=0.0), view)
    colours = overlay(view, heat, alpha=1.0)
    assert np.array_equal(colours, colorize(heat))
    red, _green, blue = colours[10, 25]
    assert red > 100 and blue < 50  # jet: hot is red (RGB order, not OpenCV's BGR)
    red, _green, blue = colours[10, 5]
    assert blue > 100 and red < 50  # cold is blue
    half = overlay(view, heat, alpha=0.5)
    assert half.dtype == np.uint8 and half.shape == view.shape


def test_overlay_resizes_a_coarse_map_and_clips_out_of_range_values():
    view = np.zeros((32, 48, 3), dtype=np.uint8)
    grid = np.array([[0.0, 2.0], [-1.0, np.nan]], dtype=np.float32)
    out = overlay(view, grid, alpha=1.0, colormap="inferno")
    assert out.shape == (32, 48, 3)
    assert np.array_equal(out[0, -1], colorize(np.ones((1, 1)), "inferno")[0, 0])  # 2.0 → clipped to 1


def test_attention_grid_has_one_tile_per_layer_and_head_plus_mean():
    layers, heads, rows, cols = 3, 2, 2, 4
    geometry = VitGeometry((rows, cols), (8, 8), num_prefix_tokens=1, has_class_token=True)
    tokens = geometry.num_tokens
    attentions = torch.full((layers, heads, tokens, tokens), 1.0 / tokens)
    attentions[1, 0, 0] = 0.0
    attentions[1, 0, 0, 1 + 5] = 1.0  # layer 1, head 0: the class token looks at patch (1, 1) only
    view = np.full((16, 32, 3), 128, dtype=np.uint8)
    grid = attention_grid_image(attentions, geometry, view, cell=40, alpha=1.0)
    tile_w, tile_h, left, top, gap = 40, 20, 40, 22, 2
    assert grid.shape == (top + layers * (tile_h + gap), left + (heads + 1) * (tile_w + gap), 3)
    tile = grid[top + (tile_h + gap) : top + (tile_h + gap) + tile_h, left : left + tile_w]
    hottest = np.unravel_index(np.argmax(tile[..., 0].astype(int) - tile[..., 2]), tile.shape[:2])
    assert hottest[0] >= tile_h // 2 and tile_w // 4 <= hottest[1] < tile_w // 2  # patch (1, 1) of a 2×4 grid


@pytest.mark.parametrize("has_class_token", [True, False])
def test_attention_grid_without_image_draws_bare_heatmaps(has_class_token):
    prefix = 1 if has_class_token else 0
    geometry = VitGeometry((3, 3), (8, 8), num_prefix_tokens=prefix, has_class_token=has_class_token)
    attentions = torch.rand(2, 3, geometry.num_tokens, geometry.num_tokens).softmax(-1)
    grid = attention_grid_image(attentions, geometry, cell=30)
    assert grid.shape[0] == 22 + 2 * (30 + 2) and grid.dtype == np.uint8
