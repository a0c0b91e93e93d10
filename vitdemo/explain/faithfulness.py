"""How far to trust a map: deletion/insertion AUC, and pointing game / energy where a mask exists.

Deletion and insertion (Petsiuk, Das & Saenko 2018, "RISE"): pixels are removed from (deletion)
or revealed on (insertion) the image, most salient first, and the target class's probability is
recorded after each step. A faithful map makes the probability drop fast when deleting (low AUC)
and rise fast when inserting (high AUC). Deleted pixels take the dataset mean colour (zero after
normalisation); insertion starts from a blurred copy, as in the paper. All perturbed images of
both curves go through the shared network together: one batched forward pass per map by default
(a 2-core CPU runs a batch of 18 demo-model images in ~3× the time of one), with plain forward
passes (no hooks).

Pointing game (Zhang et al. 2016) and energy inside the mask (Wang et al. 2020, Score-CAM) need a
ground-truth mask at the view's resolution, e.g. the Shapes dataset's (see `align_mask`).
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass

import cv2
import numpy as np
import torch
from PIL import Image

from vitdemo.errors import VitdemoError
from vitdemo.explain.result import ExplainResult
from vitdemo.models.loaded import LoadedModel, Preprocessing

# Perturbed images per forward pass when the caller does not say: both curves of the usual 8 to 16
# steps in one pass, while a ViT-B batch stays under ~1 GB of activations.
MAX_BATCH = 64


@dataclass(frozen=True)
class FaithfulnessCurves:
    """Target-class probability after each deletion/insertion step (fraction 0 … 1 of pixels)."""

    fractions: np.ndarray  # (steps + 1,) share of pixels deleted / inserted
    deletion: np.ndarray  # (steps + 1,) probability while deleting; lower area is better
    insertion: np.ndarray  # (steps + 1,) probability while inserting; higher area is better

    @property
    def deletion_auc(self) -> float:
        return float(np.trapezoid(self.deletion, self.fractions))

    @property
    def insertion_auc(self) -> float:
        return float(np.trapezoid(self.insertion, self.fractions))


def deletion_insertion_curves(
    model: LoadedModel,
    view: np.ndarray,
    saliency: np.ndarray,
    target_index: int,
    *,
    steps: int = 16,
    batch_size: int | None = None,
) -> FaithfulnessCurves:
    """Both curves for one map: 2 × (steps + 1) perturbed images, run through the network in batches.

    Args:
        model: the model the map explains.
        view: the uint8 (H, W, 3) image as the network saw it (`ExplainResult.view`).
        saliency: (H, W) map aligned with `view`; higher = more important.
        target_index: the class whose probability is tracked.
        steps: number of deletion/insertion steps (each moves H·W/steps pixels).
        batch_size: perturbed images per forward pass; None puts both curves in one pass (at most
            `MAX_BATCH` images). The probabilities do not depend on it (within float tolerance).
    """
    if saliency.shape != view.shape[:2]:
        raise VitdemoError(f"The map is {saliency.shape} but the image is {view.shape[:2]}; they must align.")
    steps = max(1, int(steps))
    height, width = saliency.shape
    image = model.preprocessing.normalise(view)  # (3, H, W)
    blurred = model.preprocessing.normalise(cv2.GaussianBlur(view, (11, 11), 5))
    order = torch.from_numpy(np.argsort(-saliency.ravel(), kind="stable").copy())
    per_step = math.ceil(height * width / steps)
    revealed = torch.zeros(steps + 1, height * width)  # (steps+1, H*W): 1 where a pixel is "taken"
    for i in range(1, steps + 1):
        revealed[i, order[: i * per_step]] = 1.0
    revealed = revealed.view(steps + 1, 1, height, width)
    deleted_images = image * (1.0 - revealed)  # mean colour where deleted
    inserted_images = blurred * (1.0 - revealed) + image * revealed
    perturbed = torch.cat([deleted_images, inserted_images])  # (2·(steps+1), 3, H, W)
    probs = _target_probs(model, perturbed, target_index, batch_size or MAX_BATCH)
    fractions = np.minimum(np.arange(steps + 1) * per_step, height * width) / (height * width)
    return FaithfulnessCurves(fractions=fractions, deletion=probs[: steps + 1], insertion=probs[steps + 1 :])


def _target_probs(model: LoadedModel, images: torch.Tensor, target_index: int, batch_size: int) -> np.ndarray:
    chunks = []
    with torch.no_grad():
        for start in range(0, images.size(0), batch_size):
            batch = images[start : start + batch_size].to(model.device)
            chunks.append(model.logits(batch).float().softmax(dim=-1)[:, target_index].cpu())
    return torch.cat(chunks).numpy()


def pointing_game(saliency: np.ndarray, mask: np.ndarray, tolerance: int = 0) -> bool:
    """True when the map's maximum falls inside the mask (grown by `tolerance` pixels)."""
    mask = _check_mask(saliency, mask)
    if tolerance > 0:
        kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * tolerance + 1, 2 * tolerance + 1))
        mask = cv2.dilate(mask.astype(np.uint8), kernel).astype(bool)
    row, col = np.unravel_index(int(np.argmax(saliency)), saliency.shape)
    return bool(mask[row, col])


def energy_in_mask(saliency: np.ndarray, mask: np.ndarray) -> float:
    """Share of the map's total mass that lies inside the mask, in [0, 1] (0 for an empty map)."""
    mask = _check_mask(saliency, mask)
    total = float(np.clip(saliency, 0, None).sum())
    return float(np.clip(saliency, 0, None)[mask].sum()) / total if total > 0 else 0.0


def _check_mask(saliency: np.ndarray, mask: np.ndarray) -> np.ndarray:
    mask = np.asarray(mask)
    if mask.shape != saliency.shape:
        raise VitdemoError(
            f"The mask is {mask.shape} but the map is {saliency.shape}; align it with `align_mask` first."
        )
    return mask.astype(bool)


def align_mask(preprocessing: Preprocessing, mask: np.ndarray) -> np.ndarray:
    """A mask drawn on the original image → bool mask aligned with the view (same resize/crop)."""
    levels = Image.fromarray(np.asarray(mask, dtype=bool).astype(np.uint8) * 255)
    return preprocessing.view(levels)[..., 0] >= 128


def faithfulness_report(
    model: LoadedModel,
    result: ExplainResult,
    names: Iterable[str] | None = None,
    *,
    mask: np.ndarray | None = None,
    steps: int = 16,
    batch_size: int | None = None,
) -> dict[str, dict[str, float]]:
    """Score the result's maps, store the scores in `result.faithfulness` and return them.

    Args:
        model: the model that produced `result`.
        result: an explanation of one image.
        names: which maps; default all of `result.maps`.
        mask: optional bool (H, W) ground truth aligned with `result.view` (adds pointing game
            and energy inside the mask).
        steps: deletion/insertion steps per curve.
        batch_size: perturbed images per forward pass (None: one pass per map, see
            `deletion_insertion_curves`).
    """
    for name in names or list(result.maps):
        if name not in result.maps:
            raise VitdemoError(f"There is no '{name}' map in this result.")
        saliency = result.maps[name]
        curves = deletion_insertion_curves(
            model, result.view, saliency, result.target.index, steps=steps, batch_size=batch_size
        )
        scores = {"deletion_auc": curves.deletion_auc, "insertion_auc": curves.insertion_auc}
        if mask is not None:
            scores["pointing_game"] = float(pointing_game(saliency, mask))
            scores["energy_in_mask"] = energy_in_mask(saliency, mask)
        result.faithfulness[name] = scores
    return result.faithfulness
