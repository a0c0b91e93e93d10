"""What the first layer looks for (the ViT paper, Fig. 7 left).

A ViT's linear patch embedding is a matrix W (dim × 3·p·p): each of its `dim` rows is a filter
over one RGB patch. Its principal components — the directions in patch space along which the
filters vary most — are the patterns the paper plots; they look like Gabor-ish edges and colour
blobs, much like a CNN's first-layer filters. A model whose tokens come from a convolutional stem
(a hybrid ViT, or a ResNet) has no such matrix; for it we show the stem's first convolution's own
filters, labelled as such, since those are what sees the pixels.

The principal components come from `torch.linalg.eigh` of the centred filters' Gram matrix (PCA
needs nothing more); signs are fixed so each component's largest entry is positive.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np
import torch

from vitdemo.errors import VitdemoError
from vitdemo.models.loaded import LoadedModel

FilterKind = Literal["principal components", "first-layer filters"]


@dataclass(frozen=True)
class FirstLayerFilters:
    """RGB patterns of a model's first layer, ready to show.

    Attributes:
        filters: float32 (count, kernel_h, kernel_w, 3), each in its own [0, 1] range (min-max).
        kind: "principal components" of a linear patch projection, or a conv stem's
            "first-layer filters".
        layer: the module name the weights come from (e.g. "patch_embed.proj").
        explained: for principal components, the share of the filters' variance each one
            explains (count,); None for raw filters.
        stride: the layer's stride in pixels (equal to the kernel for a linear patch embedding).
    """

    filters: np.ndarray
    kind: FilterKind
    layer: str
    explained: np.ndarray | None
    stride: tuple[int, int]


def principal_filter_components(weight: torch.Tensor, count: int) -> tuple[torch.Tensor, torch.Tensor]:
    """The first `count` principal components of a bank of filters.

    Args:
        weight: (filters, channels, kh, kw), e.g. a patch-embedding convolution's weight.
        count: how many components (capped at the rank available).

    Returns:
        components (count, channels, kh, kw), unit length, largest-magnitude entry positive;
        and the share of variance each explains (count,).
    """
    flat = weight.detach().double().flatten(1)  # (filters, C·kh·kw)
    centred = flat - flat.mean(dim=0, keepdim=True)
    variance, directions = _principal_axes(centred)  # (k,), (k, C·kh·kw), largest first
    count = min(count, directions.shape[0])
    top = directions[:count]
    peaks = top.gather(1, top.abs().argmax(dim=1, keepdim=True))  # (count, 1)
    top = top * peaks.sign()
    share = variance[:count] / variance.sum().clamp_min(1e-30)
    return top.reshape(count, *weight.shape[1:]).float(), share.float()


def _principal_axes(centred: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Eigen-decomposition of the smaller of XᵀX and XXᵀ: the principal axes, largest first.

    Why not `torch.linalg.svd`: for ViT-B's 768 × 768 filter bank a float64 SVD takes ~5 s on a
    small CPU, a float32 `eigh` of the Gram matrix (summed in float64) ~0.3 s, with the same leading
    axes — the weights themselves are float32, and only the first few dozen axes are shown.
    """
    filters, dims = centred.shape
    if dims <= filters:
        values, vectors = torch.linalg.eigh((centred.T @ centred).float())  # ascending; (dims, dims)
        axes = vectors.T.double()
    else:  # fewer filters than pixels: axes = Xᵀu / ‖Xᵀu‖ from the (filters × filters) Gram matrix
        values, vectors = torch.linalg.eigh((centred @ centred.T).float())
        axes = torch.nn.functional.normalize((centred.T @ vectors.double()).T, dim=1)
    return values.double().flip(0).clamp_min(0), axes.flip(0)


def first_layer_filters(model: LoadedModel, count: int = 28) -> FirstLayerFilters:
    """The patterns a model's first layer responds to.

    Args:
        model: a loaded ViT or CNN.
        count: how many to return (the paper shows 28 principal components).

    Returns:
        Principal components of a linear patch embedding (convolution with kernel == stride on
        RGB input); otherwise the first RGB convolution's own filters (conv stems, hybrids, ResNets).
    """
    name, conv = _first_rgb_conv(model.network)
    stride = tuple(int(s) for s in conv.stride)
    kernel = tuple(int(k) for k in conv.kernel_size)
    linear_patches = model.family == "vit" and kernel == stride and kernel[0] > 1
    if linear_patches:
        components, share = principal_filter_components(conv.weight, count)
        return FirstLayerFilters(
            _as_rgb_tiles(components), "principal components", name, share.numpy(), stride
        )
    weights = conv.weight.detach().float()[:count]
    return FirstLayerFilters(_as_rgb_tiles(weights), "first-layer filters", name, None, stride)


def _first_rgb_conv(network: torch.nn.Module) -> tuple[str, torch.nn.Conv2d]:
    """The first Conv2d that reads the 3 image channels, in registration order (the stem comes first)."""
    for name, module in network.named_modules():
        if isinstance(module, torch.nn.Conv2d) and module.in_channels == 3 and module.groups == 1:
            return name, module
    raise VitdemoError(f"{type(network).__name__} has no convolution on the RGB image to show filters of.")


def _as_rgb_tiles(weights: torch.Tensor) -> np.ndarray:
    """(count, 3, kh, kw) → float32 (count, kh, kw, 3), each tile min-max scaled to [0, 1]."""
    tiles = weights.permute(0, 2, 3, 1).float()
    low = tiles.amin(dim=(1, 2, 3), keepdim=True)
    high = tiles.amax(dim=(1, 2, 3), keepdim=True)
    return ((tiles - low) / (high - low).clamp_min(1e-12)).numpy()
