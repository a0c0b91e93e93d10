"""From raw scores at the model's resolution to a [0, 1] map aligned with the view."""

from __future__ import annotations

import cv2
import numpy as np
import torch


def scale_to_view(raw: np.ndarray | torch.Tensor, size: tuple[int, int]) -> np.ndarray:
    """Upsample a (h, w) score grid bilinearly to `size` (H, W) and min-max scale it to [0, 1].

    A constant grid (nothing stands out) becomes all zeros rather than NaN. Bilinear upsampling
    then min-max equals pytorch-grad-cam's scale-then-resize up to the final rescale, since both
    steps are affine per pixel.
    """
    grid = raw.detach().cpu().numpy() if isinstance(raw, torch.Tensor) else np.asarray(raw)
    grid = np.ascontiguousarray(grid, dtype=np.float32)
    height, width = size
    up = cv2.resize(grid, (width, height), interpolation=cv2.INTER_LINEAR)
    low, high = float(up.min()), float(up.max())
    if not np.isfinite(low) or not np.isfinite(high) or high - low <= 1e-12 * max(1.0, abs(high)):
        return np.zeros((height, width), dtype=np.float32)
    return ((up - low) / (high - low)).astype(np.float32)
