"""Progressive resizing (fast.ai, FixRes, FlexiViT): learn at low resolution, finish at full size."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from vitdemo.data.shapes import IMAGE_SIZE
from vitdemo.train.shapes_recipe.config import TrainConfig


def resize_batch(x: torch.Tensor, size: int) -> torch.Tensor:
    """The batch at `size` px, as progressive resizing trains (and validates) it."""
    return F.interpolate(x, size=size, mode="bilinear", antialias=True, align_corners=False)


def at_low_resolution(step: int, cfg: TrainConfig) -> bool:
    """Whether `step` trains below full size: all but the final `full_size_frac` of the schedule."""
    return cfg.train_size != IMAGE_SIZE and step < (1 - cfg.full_size_frac) * cfg.steps
