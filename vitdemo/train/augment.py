"""From stored uint8 views to normalised model input, with optional augmentation.

Augmentation draws from an explicit `torch.Generator`, never the global RNG: runs execute in
background threads beside the app, and a seed must give the same run whatever else is going on.
"""

from __future__ import annotations

import math

import torch
from torchvision.transforms.v2 import functional as TF

from vitdemo.models.loaded import Preprocessing

CROP_SCALE = (0.6, 1.0)  # share of the view's area kept by a random crop
CROP_RATIO = (3 / 4, 4 / 3)
JITTER = 0.2  # brightness and contrast vary by up to ±20 %


def normalise_batch(images: torch.Tensor, preprocessing: Preprocessing) -> torch.Tensor:
    """uint8 or [0, 1] float (B, 3, H, W) → float (B, 3, H, W) normalised with the model's mean/std."""
    x = images.float().div_(255.0) if images.dtype == torch.uint8 else images.float()
    mean = torch.tensor(preprocessing.mean, device=x.device).view(1, 3, 1, 1)
    std = torch.tensor(preprocessing.std, device=x.device).view(1, 3, 1, 1)
    return (x - mean) / std


def _random_crop_box(height: int, width: int, generator: torch.Generator) -> tuple[int, int, int, int]:
    """(top, left, h, w) of a crop with area in CROP_SCALE and aspect ratio in CROP_RATIO."""
    area = height * width
    for _ in range(10):
        scale = CROP_SCALE[0] + (CROP_SCALE[1] - CROP_SCALE[0]) * torch.rand(1, generator=generator).item()
        log_lo, log_hi = math.log(CROP_RATIO[0]), math.log(CROP_RATIO[1])
        ratio = math.exp(log_lo + (log_hi - log_lo) * torch.rand(1, generator=generator).item())
        w = round(math.sqrt(area * scale * ratio))
        h = round(math.sqrt(area * scale / ratio))
        if 0 < w <= width and 0 < h <= height:
            top = int(torch.randint(0, height - h + 1, (1,), generator=generator))
            left = int(torch.randint(0, width - w + 1, (1,), generator=generator))
            return top, left, h, w
    return 0, 0, height, width


def augment_batch(images: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """Random resized crop, horizontal flip and brightness/contrast jitter, per image.

    Args:
        images: uint8 (B, 3, H, W) views.
        generator: source of randomness (seeded by the run).

    Returns:
        float (B, 3, H, W) in [0, 1].
    """
    _, _, height, width = images.shape
    out = []
    for image in images.float().div(255.0):
        top, left, h, w = _random_crop_box(height, width, generator)
        image = TF.resized_crop(image, top, left, h, w, [height, width], antialias=True)
        if torch.rand(1, generator=generator).item() < 0.5:
            image = image.flip(-1)
        brightness, contrast = (1 + JITTER * (2 * torch.rand(2, generator=generator) - 1)).tolist()
        mean = image.mean()
        image = ((image - mean) * contrast + mean) * brightness
        out.append(image.clamp_(0, 1))
    return torch.stack(out)


def model_input(
    images: torch.Tensor,
    preprocessing: Preprocessing,
    *,
    augment: bool = False,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """uint8 views (B, 3, H, W) → normalised float input, augmented when asked."""
    if augment:
        return normalise_batch(augment_batch(images, generator or torch.Generator()), preprocessing)
    return normalise_batch(images, preprocessing)
