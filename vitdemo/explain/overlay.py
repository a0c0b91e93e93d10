"""Drawing a [0, 1] map over the image with an OpenCV colormap."""

from __future__ import annotations

import cv2
import numpy as np

COLORMAPS = {
    "jet": cv2.COLORMAP_JET,
    "turbo": cv2.COLORMAP_TURBO,
    "inferno": cv2.COLORMAP_INFERNO,
    "viridis": cv2.COLORMAP_VIRIDIS,
    "magma": cv2.COLORMAP_MAGMA,
    "hot": cv2.COLORMAP_HOT,
}


def colorize(heat: np.ndarray, colormap: str | int = "jet") -> np.ndarray:
    """A (H, W) map in [0, 1] → uint8 RGB (H, W, 3) through an OpenCV colormap.

    Args:
        heat: the map; values outside [0, 1] are clipped.
        colormap: a name from `COLORMAPS` or an OpenCV `COLORMAP_*` constant.
    """
    code = COLORMAPS[colormap] if isinstance(colormap, str) else colormap
    levels = np.uint8(np.clip(np.nan_to_num(heat), 0.0, 1.0) * 255.0 + 0.5)
    return cv2.cvtColor(cv2.applyColorMap(levels, code), cv2.COLOR_BGR2RGB)


def overlay(
    view: np.ndarray, heat: np.ndarray, alpha: float = 0.5, colormap: str | int = "jet"
) -> np.ndarray:
    """Blend a colorized map over the image: uint8 RGB (H, W, 3).

    Args:
        view: uint8 RGB image (H, W, 3), e.g. `ExplainResult.view`.
        heat: (h, w) map in [0, 1]; resized bilinearly when it is not at the view's size.
        alpha: weight of the colours (0 = only the image, 1 = only the map).
        colormap: a name from `COLORMAPS` or an OpenCV `COLORMAP_*` constant.
    """
    height, width = view.shape[:2]
    heat = np.asarray(heat, dtype=np.float32)
    if heat.shape != (height, width):
        heat = cv2.resize(heat, (width, height), interpolation=cv2.INTER_LINEAR)
    colours = colorize(heat, colormap).astype(np.float32)
    blended = (1.0 - alpha) * view.astype(np.float32) + alpha * colours
    return np.clip(blended + 0.5, 0, 255).astype(np.uint8)
