"""Validation during the recipe: top-1 accuracy on a fixed rendered validation set."""

from __future__ import annotations

import numpy as np
import torch

from vitdemo.data.shapes import IMAGE_SIZE, SPLIT_SEEDS, render_batch
from vitdemo.models.preprocessing import Preprocessing
from vitdemo.train.augment import normalise_batch
from vitdemo.train.metrics import top1_accuracy
from vitdemo.train.shapes_recipe.progressive_resizing import resize_batch

_VAL_CACHE: dict[int, tuple[np.ndarray, np.ndarray]] = {}


def validation_set(n: int = 240) -> tuple[np.ndarray, np.ndarray]:
    """The first `n` validation images and labels, rendered once per process."""
    if n not in _VAL_CACHE:
        images, labels, _ = render_batch(SPLIT_SEEDS["val"], 0, n)
        _VAL_CACHE[n] = (images, labels)
    return _VAL_CACHE[n]


@torch.no_grad()
def accuracy(
    net: torch.nn.Module,
    preprocessing: Preprocessing,
    images: np.ndarray,
    labels: np.ndarray,
    size: int = IMAGE_SIZE,
) -> float:
    """Top-1 accuracy of `net` on uint8 images (N, H, W, 3), resized to `size` px when smaller."""
    net.eval()
    logits = []
    for i in range(0, len(images), 60):
        x = normalise_batch(torch.from_numpy(images[i : i + 60]).permute(0, 3, 1, 2), preprocessing)
        if size != IMAGE_SIZE:
            x = resize_batch(x, size)
        logits.append(net(x.to(next(net.parameters()).device)).float().cpu())
    return top1_accuracy(labels, torch.cat(logits).numpy())
