"""Pooled backbone features of a run's images, computed once: what head-mode training and the
"before" report read instead of running the frozen backbone at every step.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn

from vitdemo.models.loaded import Preprocessing
from vitdemo.train.augment import model_input
from vitdemo.train.device import autocast, channels_last
from vitdemo.train.network import pooled_features


@torch.inference_mode()
def cache_features(
    network: nn.Module,
    images: torch.Tensor,
    preprocessing: Preprocessing,
    device: torch.device,
    *,
    batch_size: int,
    on_progress: Callable[[int, int], None],
    augment_seed: int | None = None,
) -> torch.Tensor:
    """Pooled features (N, D) of uint8 views (N, 3, H, W) through the (frozen) backbone, in eval mode.

    Args:
        network: the run's network (its classifier is not applied).
        images: the views, at the model's input size.
        preprocessing: the model's normalisation.
        device: where the network lives.
        batch_size: images per forward pass.
        on_progress: called with (done, total) before the first and after every batch; it may
            raise to stop.
        augment_seed: when given, each view is randomly augmented first (seeded: the same copy
            every time).
    """
    network.eval()
    generator = torch.Generator().manual_seed(augment_seed) if augment_seed is not None else None
    out = []
    on_progress(0, len(images))
    for start in range(0, len(images), batch_size):
        x = model_input(
            images[start : start + batch_size],
            preprocessing,
            augment=generator is not None,
            generator=generator,
        ).to(device)
        with autocast(device):
            out.append(pooled_features(network, channels_last(x, device)).float())
        on_progress(min(start + batch_size, len(images)), len(images))
    return torch.cat(out)
