"""Faithfulness metrics rank a map that points at the evidence above one that points elsewhere."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from explain_models import controlled_vit, image_with_bright_patch, preprocessing

from vitdemo.errors import VitdemoError
from vitdemo.explain import (
    align_mask,
    deletion_insertion_curves,
    energy_in_mask,
    explain,
    faithfulness_report,
    pointing_game,
)
from vitdemo.models.loaded import LoadedModel


class RegionBrightness(torch.nn.Module):
    """Class 0's logit grows with the brightness of one region: the only evidence there is."""

    def __init__(self, rows: slice, cols: slice):
        super().__init__()
        self.rows, self.cols = rows, cols
        self.gain = torch.nn.Parameter(torch.tensor(40.0))

    def forward(self, x):
        evidence = x[:, :, self.rows, self.cols].mean(dim=(1, 2, 3)) - 0.9  # blurred is not enough
        return torch.stack([self.gain * evidence, torch.zeros_like(evidence)], dim=1)


def region_model() -> LoadedModel:
    return LoadedModel(
        spec="test:region",
        network=RegionBrightness(slice(8, 24), slice(16, 32)),
        preprocessing=preprocessing((32, 40), mean=0.0, std=1.0),
        labels=["lit", "unlit"],
        family="cnn",
        backend="timm",
        geometry=None,
        source="hand-made",
    )


def region_image_and_maps():
    view = np.zeros((32, 40, 3), dtype=np.uint8)
    view[8:24, 16:32] = 255
    good = np.zeros((32, 40), dtype=np.float32)
    good[8:24, 16:32] = 1.0
    good += np.linspace(0, 0.1, 40, dtype=np.float32)  # break ties inside and outside
    return view, good, 1.0 - good


def test_deletion_and_insertion_prefer_the_map_on_the_evidence():
    model = region_model()
    view, good, bad = region_image_and_maps()
    on, off = (deletion_insertion_curves(model, view, m, 0, steps=10) for m in (good, bad))
    assert on.deletion_auc < off.deletion_auc - 0.2
    assert on.insertion_auc > off.insertion_auc + 0.2
    # Curves start/end where they must: the untouched image, the blurred one, the mean-colour one.
    with torch.no_grad():
        full = model.logits(model.preprocessing.normalise(view)[None]).softmax(-1)[0, 0].item()
    assert on.deletion[0] == pytest.approx(full) and on.insertion[-1] == pytest.approx(full)
    assert on.deletion[-1] == pytest.approx(off.deletion[-1]) and on.insertion[0] == pytest.approx(
        off.insertion[0]
    )
    assert on.fractions[0] == 0.0 and on.fractions[-1] == 1.0


def test_perturbed_images_go_through_the_network_in_batches():
    model = region_model()
    calls = []
    network = model.network
    model.network = torch.nn.Sequential(network)
    model.network.register_forward_pre_hook(lambda _m, args: calls.append(args[0].shape[0]))
    view, good, _ = region_image_and_maps()
    deletion_insertion_curves(model, view, good, 0, steps=12, batch_size=8)
    assert calls == [8, 8, 8, 2]  # 2 × (12 + 1) images
    assert len(calls) == math.ceil(26 / 8)
    calls.clear()
    deletion_insertion_curves(model, view, good, 0, steps=8)
    assert calls == [18]  # by default both curves in one forward pass


def test_batched_curves_equal_the_curves_computed_one_image_at_a_time():
    model = controlled_vit((32, 32))
    image = image_with_bright_patch((32, 32), (8, 8), (2, 1))
    result = explain(model, image, target="bright", methods=["rollout", "gradcam"])
    for name in result.maps:
        together = deletion_insertion_curves(
            model, result.view, result.maps[name], result.target.index, steps=8
        )
        alone = deletion_insertion_curves(
            model, result.view, result.maps[name], result.target.index, steps=8, batch_size=1
        )
        np.testing.assert_allclose(together.deletion, alone.deletion, rtol=1e-4, atol=1e-6)
        np.testing.assert_allclose(together.insertion, alone.insertion, rtol=1e-4, atol=1e-6)
        assert together.deletion_auc == pytest.approx(alone.deletion_auc, abs=1e-5)
    assert together.deletion[0] - together.deletion[-1] > 0.5  # the curve really moves


def test_report_on_a_vit_explanation_with_a_mask():
    model = controlled_vit((32, 32))
    image = image_with_bright_patch((32, 32), (8, 8), (2, 1))
    result = explain(model, image, target="bright", methods=["cls", "rollout", "gradcam"])
    mask = np.zeros((32, 32), dtype=bool)
    mask[16:24, 8:16] = True
    report = faithfulness_report(model, result, mask=mask, steps=8)
    assert set(report) == {"cls", "rollout", "gradcam"} and report is result.faithfulness
    inverted = deletion_insertion_curves(model, result.view, 1 - result.maps["cls"], 0, steps=8)
    for name, scores in report.items():
        assert scores["pointing_game"] == 1.0, name
        assert scores["energy_in_mask"] > 0.3, name
        assert scores["deletion_auc"] < inverted.deletion_auc - 0.3, name
    summary = result.summary()
    assert summary["faithfulness"]["cls"]["pointing_game"] == 1.0
    with pytest.raises(VitdemoError, match="no 'relevance' map"):
        faithfulness_report(model, result, ["relevance"])


def test_pointing_game_and_energy():
    heat = np.zeros((10, 10), dtype=np.float32)
    heat[2, 3], heat[7, 7] = 1.0, 0.5
    mask = np.zeros((10, 10), dtype=bool)
    mask[6:9, 6:9] = True
    assert not pointing_game(heat, mask)
    assert not pointing_game(heat, mask, tolerance=3)  # the peak is 5 px from the mask
    assert pointing_game(heat, mask, tolerance=6)
    assert energy_in_mask(heat, mask) == pytest.approx(0.5 / 1.5)
    assert energy_in_mask(np.zeros_like(heat), mask) == 0.0
    with pytest.raises(VitdemoError, match="align"):
        energy_in_mask(heat, np.ones((5, 5), dtype=bool))


def test_align_mask_follows_the_views_resize_and_crop():
    prep = preprocessing((16, 16))
    prep = type(prep)(**{**prep.__dict__, "crop_mode": "center", "crop_pct": 1.0})
    mask = np.zeros((32, 64), dtype=bool)  # wide original: the centre crop keeps the middle half
    mask[:, :16] = True  # only in the left quarter, which the crop cuts away
    assert not align_mask(prep, mask).any()
    mask[:, 28:36] = True  # a centre band survives, a quarter of the view's width
    aligned = align_mask(prep, mask)
    assert aligned.shape == (16, 16) and aligned[:, 6:10].all() and not aligned[:, :4].any()
