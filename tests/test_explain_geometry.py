"""Maps land on the right patches: non-square grids, 2 prefix tokens (DeiT), registers, no class token.

The ViT has hand-set weights whose attention we control (`explain_models.controlled_vit`): the
class token, and every dark patch, attends to the one bright patch, whose value drives class
"bright". Every map must therefore peak on that patch, wherever it is.
"""

from __future__ import annotations

import numpy as np
import pytest
from explain_models import controlled_vit, image_with_bright_patch

from vitdemo.explain import explain


def peak_cell(result, name: str, patch: tuple[int, int]) -> tuple[int, int]:
    row, col = result.peak(name)
    return row // patch[0], col // patch[1]


CASES = {
    "square": ((32, 32), {}, (2, 1)),
    "non-square": ((24, 40), {}, (2, 3)),
    "non-square-tall": ((48, 16), {}, (4, 0)),
    "distilled-deit": ((24, 40), {"name": "deit_tiny_distilled_patch16_224"}, (1, 4)),
    "registers": ((24, 40), {"reg_tokens": 4}, (0, 2)),
}


@pytest.mark.parametrize("case", CASES)
def test_every_map_peaks_on_the_bright_patch(case):
    size, kwargs, cell = CASES[case]
    model = controlled_vit(size, **kwargs)
    patch = model.geometry.patch_size
    image = image_with_bright_patch(size, patch, cell)
    result = explain(model, image, target="bright", methods=["cls", "rollout", "relevance", "gradcam"])
    assert result.raw_maps["cls"].shape == model.geometry.grid_size
    for name in ("cls", "rollout", "relevance", "gradcam"):
        assert peak_cell(result, name, patch) == cell, name
        raw = result.raw_maps[name]
        others = np.delete(raw.ravel(), cell[0] * raw.shape[1] + cell[1])
        assert raw[cell] > others.max(), f"{name} does not single out the bright patch"
    # A different bright patch moves every map with it (no map is stuck on one place).
    moved = (0, 0) if cell != (0, 0) else (1, 1)
    result = explain(model, image_with_bright_patch(size, patch, moved), target="bright")
    assert all(peak_cell(result, name, patch) == moved for name in result.maps)


def test_vit_without_class_token_gets_the_maps_that_make_sense():
    model = controlled_vit((24, 40), class_token=False, global_pool="avg")
    patch = model.geometry.patch_size
    image = image_with_bright_patch((24, 40), patch, (1, 2))
    result = explain(model, image, target=0, methods=["cls", "rollout", "relevance", "gradcam"])
    assert "no class token" in result.unavailable["cls"]
    assert set(result.maps) == {"rollout", "relevance", "gradcam"}
    for name in result.maps:
        assert peak_cell(result, name, patch) == (1, 2), name
