"""Rollout, relevance and class-token maps equal direct implementations of their formulas."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from explain_models import random_image, timm_vit

from vitdemo.errors import VitdemoError
from vitdemo.explain import (
    attention_relevance,
    attention_rollout,
    cls_attention_map,
    explain,
    readout_map,
    readout_weights,
    scale_to_view,
)
from vitdemo.models.loaded import VitGeometry


def random_attention(layers=3, heads=2, tokens=5, seed=0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.randn(layers, heads, tokens, tokens, generator=g).mul(2).softmax(dim=-1)


def rollout_by_loops(attentions, fusion, discard_ratio):
    """Abnar & Zuidema rollout written out element by element (numpy, no shared code)."""
    a = attentions.numpy().astype(np.float64)
    layers, _heads, n, _ = a.shape
    joint = np.eye(n)
    for layer in range(layers):
        fused = {"mean": a[layer].mean(0), "max": a[layer].max(0), "min": a[layer].min(0)}[fusion].copy()
        drop = int(n * n * discard_ratio)
        if drop:
            order = np.argsort(fused.ravel(), kind="stable")[:drop]
            for flat in order:
                if flat != 0:
                    fused[flat // n, flat % n] = 0.0
        step = np.zeros((n, n))
        for i in range(n):
            row = [(fused[i, j] + (1.0 if i == j else 0.0)) / 2 for j in range(n)]
            total = sum(row)
            step[i] = [v / total for v in row]
        joint = step @ joint
    return joint


@pytest.mark.parametrize("fusion", ["mean", "max", "min"])
@pytest.mark.parametrize("discard_ratio", [0.0, 0.4])
def test_rollout_equals_formula(fusion, discard_ratio):
    attentions = random_attention(seed=7)
    ours = attention_rollout(attentions, head_fusion=fusion, discard_ratio=discard_ratio)
    expected = rollout_by_loops(attentions, fusion, discard_ratio)
    np.testing.assert_allclose(ours.numpy(), expected, rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(ours.sum(-1).numpy(), 1.0, atol=1e-5)  # rows stay distributions


@pytest.mark.parametrize("readout", ["class", "class+dist", "patches"])
def test_readout_row_equals_row_of_full_matrix(readout):
    geometry = VitGeometry(grid_size=(2, 2), patch_size=(8, 8), num_prefix_tokens=2, has_class_token=True)
    attentions = random_attention(layers=4, heads=2, tokens=6, seed=4)
    grads = torch.randn(attentions.shape, generator=torch.Generator().manual_seed(5))
    weights = readout_weights(geometry, readout)
    full = attention_rollout(attentions, discard_ratio=0.3)
    row = attention_rollout(attentions, discard_ratio=0.3, readout=weights)
    np.testing.assert_allclose(row.numpy(), (weights @ full).numpy(), rtol=1e-5)
    full = attention_relevance(attentions, grads)
    row = attention_relevance(attentions, grads, readout=weights)
    np.testing.assert_allclose(row.numpy(), (weights @ full).numpy(), rtol=1e-5)
    np.testing.assert_allclose(
        readout_map(row, geometry, readout).numpy(), readout_map(full, geometry, readout).numpy(), rtol=1e-5
    )


def test_relevance_equals_formula():
    attentions = random_attention(layers=3, heads=3, tokens=6, seed=1)
    grads = torch.randn(attentions.shape, generator=torch.Generator().manual_seed(2))
    ours = attention_relevance(attentions, grads).numpy()
    relevance = np.eye(6)
    for a, g in zip(attentions.numpy(), grads.numpy(), strict=True):
        cam = np.maximum(g * a, 0).mean(axis=0)
        relevance = relevance + cam @ relevance
    np.testing.assert_allclose(ours, relevance, rtol=1e-5)


def test_cls_map_reads_class_row_of_chosen_layer_and_head():
    geometry = VitGeometry(grid_size=(2, 3), patch_size=(8, 8), num_prefix_tokens=2, has_class_token=True)
    attentions = random_attention(layers=2, heads=3, tokens=8, seed=3)
    grid = cls_attention_map(attentions, geometry, layer=0, head=1)
    np.testing.assert_array_equal(grid.numpy(), attentions[0, 1, 0, 2:].reshape(2, 3).numpy())
    mean = cls_attention_map(attentions, geometry, layer=-1, head="mean")
    np.testing.assert_allclose(mean.numpy(), attentions[1, :, 0, 2:].mean(0).reshape(2, 3).numpy())
    with pytest.raises(VitdemoError, match="Head 7"):
        cls_attention_map(attentions, geometry, head=7)
    with pytest.raises(VitdemoError, match="Layer 5"):
        cls_attention_map(attentions, geometry, layer=5)


def test_explain_maps_follow_their_options():
    model = timm_vit()
    result = explain(
        model,
        random_image(5),
        methods=["cls", "rollout"],
        cls_layer=0,
        cls_head=2,
        head_fusion="max",
        discard_ratio=0.5,
    )
    expected_cls = cls_attention_map(result.attentions, model.geometry, layer=0, head=2)
    np.testing.assert_allclose(result.raw_maps["cls"], expected_cls.numpy())
    joint = attention_rollout(result.attentions, head_fusion="max", discard_ratio=0.5)
    np.testing.assert_allclose(
        result.raw_maps["rollout"], readout_map(joint, model.geometry, "class").numpy(), rtol=1e-5
    )
    for name, heat in result.maps.items():
        assert heat.dtype == np.float32 and heat.shape == result.view.shape[:2], name
        assert heat.min() == 0.0 and heat.max() == 1.0, name


def test_scale_to_view_is_bilinear_min_max_and_handles_flat_maps():
    grid = np.array([[0.0, 2.0], [4.0, 8.0]], dtype=np.float32)
    heat = scale_to_view(grid, (8, 6))
    assert heat.shape == (8, 6) and heat.dtype == np.float32
    assert heat.min() == 0.0 and heat.max() == 1.0
    assert heat[-1, -1] == 1.0 and heat[0, 0] == 0.0  # corners keep the grid's extremes
    assert not scale_to_view(np.ones((3, 3)), (9, 9)).any()  # nothing stands out → zeros, not NaN
