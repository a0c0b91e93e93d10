"""How alike two saliency maps are: Spearman rank correlation and SSIM, as Adebayo et al. compare them.

Spearman comes from scipy. SSIM is written out here because scikit-image (which has it) is not a
dependency of vitdemo; this is the standard single-scale SSIM of Wang et al. 2004 with its usual
constants (11×11 Gaussian window, σ = 1.5, K1 = 0.01, K2 = 0.03), with OpenCV doing the filtering.
It matches `skimage.metrics.structural_similarity(a, b, data_range=1, gaussian_weights=True,
sigma=1.5, use_sample_covariance=False)` away from the borders.
"""

from __future__ import annotations

import cv2
import numpy as np
from scipy.stats import spearmanr

SSIM_WINDOW = (11, 11)
SSIM_SIGMA = 1.5
SSIM_K1, SSIM_K2 = 0.01, 0.03


def rank_correlation(a: np.ndarray, b: np.ndarray) -> float:
    """Spearman's ρ between two maps' pixels, in [-1, 1].

    A constant map has no ranking (scipy returns NaN); it counts as 0, "no relation", since a map
    that went blank has lost whatever the other one showed.
    """
    x, y = np.ravel(a), np.ravel(b)
    if np.ptp(x) == 0 or np.ptp(y) == 0:
        return 0.0
    rho = spearmanr(x, y).statistic
    return 0.0 if not np.isfinite(rho) else float(rho)


def structural_similarity(a: np.ndarray, b: np.ndarray, data_range: float = 1.0) -> float:
    """Mean SSIM of two (H, W) maps with values in [0, data_range]; 1 means identical."""
    x, y = np.asarray(a, np.float64), np.asarray(b, np.float64)
    c1, c2 = (SSIM_K1 * data_range) ** 2, (SSIM_K2 * data_range) ** 2

    def blur(z: np.ndarray) -> np.ndarray:
        return cv2.GaussianBlur(z, SSIM_WINDOW, SSIM_SIGMA, borderType=cv2.BORDER_REFLECT)

    mu_x, mu_y = blur(x), blur(y)
    var_x = blur(x * x) - mu_x**2
    var_y = blur(y * y) - mu_y**2
    cov = blur(x * y) - mu_x * mu_y
    ssim = ((2 * mu_x * mu_y + c1) * (2 * cov + c2)) / ((mu_x**2 + mu_y**2 + c1) * (var_x + var_y + c2))
    return float(ssim.mean())
