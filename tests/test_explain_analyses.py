"""Inside the ViT: the analyses on constructed inputs whose answer is known, and on the demo models."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
import torch
from explain_models import hf_vit, timm_vit

import vitdemo
from vitdemo.data.shapes import render_shape
from vitdemo.errors import VitdemoError
from vitdemo.explain import analyses
from vitdemo.models.loaded import VitGeometry

GEOMETRY = VitGeometry(grid_size=(4, 6), patch_size=(8, 16), num_prefix_tokens=2, has_class_token=True)


def attention_from_patch_rows(
    patch_rows: torch.Tensor, geometry: VitGeometry, prefix_share: float
) -> torch.Tensor:
    """Full (1, H, N, N) attention: each patch query gives `prefix_share` to the prefix tokens, the rest per row."""
    heads, patches, _ = patch_rows.shape
    prefix = geometry.num_prefix_tokens
    full = torch.zeros(1, heads, prefix + patches, prefix + patches)
    full[..., :, :prefix] = prefix_share / prefix
    full[0, :, prefix:, prefix:] = (1 - prefix_share) * patch_rows
    full[0, :, :prefix, prefix:] = (1 - prefix_share) / patches
    return full


def test_identity_attention_has_distance_zero():
    patches = GEOMETRY.num_patches
    attn = attention_from_patch_rows(torch.eye(patches).expand(3, -1, -1), GEOMETRY, prefix_share=0.3)
    assert torch.allclose(analyses.mean_attention_distance(attn, GEOMETRY), torch.zeros(1, 3), atol=1e-5)


def test_uniform_attention_has_the_mean_pairwise_patch_distance():
    rows, cols = GEOMETRY.grid_size
    ph, pw = GEOMETRY.patch_size
    cells = list(itertools.product(range(rows), range(cols)))
    expected = np.mean(
        [math.hypot((a - c) * ph, (b - d) * pw) for (a, b), (c, d) in itertools.product(cells, cells)]
    )
    uniform = torch.full((2, len(cells), len(cells)), 1.0 / len(cells))
    attn = attention_from_patch_rows(uniform, GEOMETRY, prefix_share=0.5)  # prefix excluded and renormalised
    distance = analyses.mean_attention_distance(attn, GEOMETRY)
    assert torch.allclose(distance, torch.full((1, 2), expected, dtype=torch.float32), rtol=1e-5)
    assert analyses.uniform_attention_distance(GEOMETRY) == pytest.approx(expected, rel=1e-5)


@pytest.mark.parametrize("k", [1, 2])
def test_one_hot_attention_k_cells_away_is_k_patch_sizes(k):
    rows, cols = GEOMETRY.grid_size
    assert rows >= 2 * k and cols >= 2 * k  # every cell has a partner k cells away inside the grid
    down = torch.zeros(rows * cols, rows * cols)  # head 0: k rows away; head 1: k columns away
    across = torch.zeros(rows * cols, rows * cols)
    for r, c in itertools.product(range(rows), range(cols)):
        r2 = r + k if r + k < rows else r - k
        c2 = c + k if c + k < cols else c - k
        down[r * cols + c, r2 * cols + c] = 1
        across[r * cols + c, r * cols + c2] = 1
    attn = attention_from_patch_rows(torch.stack([down, across]), GEOMETRY, prefix_share=0.25)
    distance = analyses.mean_attention_distance(attn, GEOMETRY)[0]
    assert distance.tolist() == pytest.approx(
        [k * GEOMETRY.patch_size[0], k * GEOMETRY.patch_size[1]], rel=1e-5
    )


def test_distance_over_a_set_of_images_is_the_mean_of_the_images():
    patches = GEOMETRY.num_patches
    near = attention_from_patch_rows(torch.eye(patches)[None], GEOMETRY, 0.1)
    spread = attention_from_patch_rows(torch.full((1, patches, patches), 1 / patches), GEOMETRY, 0.1)
    both = analyses.mean_attention_distance(torch.stack([near, spread]), GEOMETRY)
    assert both.item() == pytest.approx(analyses.uniform_attention_distance(GEOMETRY) / 2, rel=1e-5)


def test_entropy_is_log_n_for_uniform_and_zero_for_one_hot_attention():
    patches = GEOMETRY.num_patches
    uniform = attention_from_patch_rows(torch.full((1, patches, patches), 1 / patches), GEOMETRY, 0.4)
    one_hot = attention_from_patch_rows(torch.eye(patches)[None], GEOMETRY, 0.4)
    assert analyses.attention_entropy(uniform, GEOMETRY).item() == pytest.approx(math.log(patches), rel=1e-5)
    assert analyses.max_attention_entropy(GEOMETRY) == pytest.approx(math.log(patches))
    assert analyses.attention_entropy(one_hot, GEOMETRY).item() == pytest.approx(0.0, abs=1e-6)


def test_the_principal_components_of_a_constructed_patch_projection_are_recovered(tiny_vit_dir):
    model = vitdemo.load_model(str(tiny_vit_dir))  # a private copy: loaded from a folder, not cached
    proj = model.network.patch_embed.proj  # (dim, 3, 16, 16)
    dim, size = proj.weight.shape[0], proj.weight[0].numel()
    generator = torch.Generator().manual_seed(0)
    patterns = torch.linalg.qr(torch.randn(size, 3, generator=generator)).Q.T  # 3 orthonormal RGB patches
    scales = torch.tensor([10.0, 5.0, 2.0])
    raw = torch.randn(dim, 3, generator=generator)
    # Uncorrelated, centred coefficients (orthogonal columns): the patterns are exactly the principal axes.
    coefficients = torch.linalg.qr(raw - raw.mean(dim=0)).Q * scales
    with torch.no_grad():
        proj.weight.copy_((coefficients @ patterns).reshape_as(proj.weight))
        proj.weight.add_(1e-4 * torch.randn(proj.weight.shape, generator=generator))
    filters = analyses.first_layer_filters(model, count=3)
    assert filters.kind == "principal components" and filters.layer == "patch_embed.proj"
    assert filters.filters.shape == (3, 16, 16, 3)
    components, share = analyses.principal_filter_components(proj.weight, 3)
    for found, pattern in zip(components.flatten(1), patterns, strict=True):
        assert abs(float(found @ pattern)) > 0.999  # the same direction (the sign is a convention)
    assert share[0] > share[1] > share[2] and float(share.sum()) > 0.99


def test_a_resnet_and_the_hybrid_show_their_first_convolution_labelled_as_such(tiny_resnet_dir):
    resnet = analyses.first_layer_filters(vitdemo.load_model(str(tiny_resnet_dir)))
    assert resnet.kind == "first-layer filters" and resnet.explained is None
    hybrid = vitdemo.load_model("demo-vit")
    if type(hybrid.network.patch_embed).__name__ == "HybridEmbed":
        found = analyses.first_layer_filters(hybrid)
        assert found.kind == "first-layer filters" and found.layer.startswith("patch_embed.backbone")


def shape_image(label: int = 2):
    from PIL import Image

    return Image.fromarray(render_shape(7, label).image)


@pytest.mark.parametrize("spec", ["demo-vit", "tiny"])
def test_the_logit_lens_last_layer_equals_the_models_own_prediction(spec, tiny_vit_dir):
    model = vitdemo.load_model(str(tiny_vit_dir) if spec == "tiny" else spec)
    image = shape_image()
    x = model.preprocessing.to_tensor(image)[None]
    blocks = analyses.block_outputs(model, x)
    lens = analyses.logit_lens(model, blocks.tokens)
    assert lens.shape == (len(model.network.blocks), model.num_classes)
    assert torch.allclose(lens[-1], blocks.logits, atol=1e-4)
    predicted = vitdemo.predict(model, image, top_k=model.num_classes)[0]
    probs = lens[-1].softmax(dim=-1)
    for score in predicted:
        assert float(probs[score.index]) == pytest.approx(score.prob, abs=1e-5)


def test_the_first_layer_ranking_first_is_where_the_lead_becomes_permanent():
    leaders = torch.tensor([[0, 1.0], [1.0, 0], [0, 1.0], [0, 1.0]])  # class 1 leads, loses, then leads on
    assert analyses.first_layer_ranking_first(leaders, 1) == 2
    assert analyses.first_layer_ranking_first(leaders, 0) is None


def test_the_logit_lens_refuses_a_resnet_in_one_sentence(tiny_resnet_dir):
    with pytest.raises(VitdemoError, match="need a Vision Transformer"):
        analyses.block_outputs(vitdemo.load_model(str(tiny_resnet_dir)), torch.zeros(1, 3, 64, 64))


def test_token_norms_are_maps_on_the_models_grid(tiny_vit_dir):
    model = vitdemo.load_model(str(tiny_vit_dir))
    blocks = analyses.block_outputs(model, model.preprocessing.to_tensor(shape_image())[None])
    norms = analyses.token_norms(blocks.tokens, model.geometry)
    assert norms.patches.shape == (2, *model.geometry.grid_size)
    assert norms.prefix.shape == (2, model.geometry.num_prefix_tokens)
    expected = blocks.tokens[1, model.geometry.num_prefix_tokens].norm()
    assert float(norms.patches[1, 0, 0]) == pytest.approx(float(expected), rel=1e-5)


def test_map_similarity_is_one_for_the_same_map_and_low_for_an_inverted_one():
    ramp = np.tile(np.linspace(0, 1, 32, dtype=np.float32), (32, 1))
    assert analyses.rank_correlation(ramp, ramp**2) == pytest.approx(1.0)  # same order, other values
    assert analyses.rank_correlation(ramp, 1 - ramp) == pytest.approx(-1.0)
    assert analyses.rank_correlation(ramp, np.zeros_like(ramp)) == 0.0  # a blank map has no ranking
    assert analyses.structural_similarity(ramp, ramp) == pytest.approx(1.0)
    assert analyses.structural_similarity(ramp, 1 - ramp) < 0


def state_copy(model) -> dict[str, torch.Tensor]:
    return {name: t.detach().clone() for name, t in model.network.state_dict().items()}


@pytest.mark.slow
def test_cascading_randomisation_leaves_the_shared_model_bit_identical_and_changes_gradient_maps():
    model = vitdemo.load_model("demo-vit")
    before = state_copy(model)
    steps_seen = []
    check = analyses.cascading_randomisation(
        model,
        shape_image(),
        ["gradcam", "relevance", "rollout"],
        progress=lambda done, total, step: steps_seen.append((done, total, step)),
    )
    after = model.network.state_dict()
    assert before.keys() == after.keys()
    assert all(torch.equal(before[name], after[name]) for name in before)
    blocks = len(model.network.blocks)
    assert check.steps == ["trained", "head", *[f"block {i}" for i in range(blocks, 0, -1)], "embedding"]
    assert [done for done, _, _ in steps_seen] == list(range(1, blocks + 4))
    for name in ("gradcam", "relevance"):  # gradient maps follow the class score: they must change
        assert check.spearman[name][0] == pytest.approx(1.0)
        assert check.mean_correlation(name) < 0.3 and check.passes(name)
        assert "passes" in check.verdict(name)
    # Rollout never reads the classifier head: the head step leaves it exactly as it was, unlike
    # the gradient maps. The check tells the two kinds apart.
    assert check.spearman["rollout"][1] == pytest.approx(1.0)
    assert check.spearman["gradcam"][1] < 0.9 and check.spearman["relevance"][1] < 0.9


def test_the_random_map_baseline_is_reproducible_and_shaped_like_the_methods_grid(tiny_vit_dir):
    model = vitdemo.load_model(str(tiny_vit_dir))
    result = vitdemo.explain(model, shape_image(), methods=["gradcam"])
    grid = result.raw_maps["gradcam"].shape
    smooth = analyses.random_smooth_map(grid, result.view.shape[:2], seed=1)
    assert smooth.shape == result.view.shape[:2] and smooth.min() >= 0 and smooth.max() <= 1
    first = analyses.random_map_baseline(model, result.view, grid, result.target.index, seeds=2, steps=4)
    again = analyses.random_map_baseline(model, result.view, grid, result.target.index, seeds=2, steps=4)
    assert first == again and first.seeds == 2 and first.grid == tuple(grid)
    assert 0 <= first.deletion_auc <= 1 and 0 <= first.insertion_auc <= 1


ARCHITECTURES = {
    "hf": lambda: hf_vit(),
    "deit-distilled": lambda: timm_vit(name="deit_tiny_distilled_patch16_224"),
    "registers-avg-pool": lambda: timm_vit(
        name="vit_base_patch16_reg4_gap_256", img_size=(32, 48), class_token=False, global_pool="avg"
    ),
}


@pytest.mark.parametrize("arch", list(ARCHITECTURES))
def test_the_logit_lens_reads_each_architecture_through_its_own_head(arch):
    model = ARCHITECTURES[arch]()
    x = torch.randn(1, 3, *model.preprocessing.input_size, generator=torch.Generator().manual_seed(1))
    blocks = analyses.block_outputs(model, x)
    assert blocks.tokens.shape[:2] == (2, model.geometry.num_tokens)
    lens = analyses.logit_lens(model, blocks.tokens)
    with torch.no_grad():
        own = model.logits(x)[0]
    assert torch.allclose(lens[-1], own, atol=1e-5)
    norms = analyses.token_norms(blocks.tokens, model.geometry)
    assert norms.patches.shape[1:] == model.geometry.grid_size
    assert norms.prefix.shape[1] == model.geometry.num_prefix_tokens


@pytest.mark.parametrize("arch", list(ARCHITECTURES))
def test_the_cascade_covers_every_weight_once_and_spares_the_shared_model(arch):
    model = ARCHITECTURES[arch]()
    before = state_copy(model)
    private = analyses.randomised_copy(model)
    stages = analyses.cascade_stages(model, private.network)
    assert stages[0].name == "head" and stages[-1].name == "embedding"
    covered = [id(p) for stage in stages for m in stage.modules for p in m.parameters()]
    covered += [id(p) for stage in stages for p in stage.parameters]
    assert sorted(covered) == sorted(id(p) for p in private.network.parameters())  # all, none twice
    for seed, stage in enumerate(stages):
        analyses.reinitialise(stage, seed)
    changed = [
        name
        for name, t in private.network.state_dict().items()
        if t.is_floating_point() and not torch.equal(t, before[name])
    ]
    assert changed
    assert all(torch.equal(t, before[name]) for name, t in model.network.state_dict().items())


@pytest.mark.parametrize("filters", [200, 20])  # more filters than pixels, and fewer
def test_principal_components_of_a_filter_bank_are_its_constructed_patterns(filters):
    generator = torch.Generator().manual_seed(filters)
    size = 3 * 4 * 4
    patterns = torch.linalg.qr(torch.randn(size, 2, generator=generator)).Q.T  # (2, 48) orthonormal
    raw = torch.randn(filters, 2, generator=generator)
    coefficients = torch.linalg.qr(raw - raw.mean(dim=0)).Q * torch.tensor([3.0, 1.0])
    bank = (coefficients @ patterns).reshape(filters, 3, 4, 4)
    components, share = analyses.principal_filter_components(bank, 2)
    cosines = (components.flatten(1) @ patterns.T).abs()
    assert torch.allclose(cosines, torch.eye(2), atol=1e-3)
    assert share.tolist() == pytest.approx([0.9, 0.1], abs=1e-3)
