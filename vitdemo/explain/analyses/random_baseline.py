"""What a random map scores on deletion/insertion: the chance level to read a faithfulness score against.

Deletion and insertion AUCs depend on the image and the model as much as on the map (an image the
model is sure of keeps a high probability whatever is deleted first). SaCo (Wu et al., CVPR 2024)
shows many scores cannot tell a method from a random map. So each score gets a baseline: random
maps with the same smoothness as the method's own — uniform noise on the grid the method produces
(the patch grid of a ViT, the stage's feature map of a ResNet), upsampled to the view exactly as
real maps are (`scale_to_view`) — scored with the same curves, averaged over a few seeds.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from vitdemo.explain.faithfulness import deletion_insertion_curves
from vitdemo.explain.scaling import scale_to_view
from vitdemo.models.loaded import LoadedModel


@dataclass(frozen=True)
class RandomBaseline:
    """Deletion/insertion AUC of random smooth maps: mean and spread over the seeds."""

    deletion_auc: float
    insertion_auc: float
    deletion_std: float
    insertion_std: float
    seeds: int
    grid: tuple[int, int]  # the random maps' native resolution (rows, cols)

    def to_dict(self) -> dict[str, float | int | list[int]]:
        return {
            "deletion_auc": round(self.deletion_auc, 4),
            "insertion_auc": round(self.insertion_auc, 4),
            "deletion_std": round(self.deletion_std, 4),
            "insertion_std": round(self.insertion_std, 4),
            "seeds": self.seeds,
            "grid": list(self.grid),
        }


def random_smooth_map(grid: tuple[int, int], size: tuple[int, int], seed: int) -> np.ndarray:
    """Uniform noise on a (rows, cols) grid, upsampled and scaled to `size` like every real map."""
    noise = np.random.default_rng(seed).random(grid, dtype=np.float32)
    return scale_to_view(noise, size)


def random_map_baseline(
    model: LoadedModel,
    view: np.ndarray,
    grid: tuple[int, int],
    target_index: int,
    *,
    seeds: int = 3,
    steps: int = 16,
    batch_size: int = 16,
) -> RandomBaseline:
    """Deletion/insertion AUC of `seeds` random maps at the resolution `grid`, for one image and class.

    Args:
        model: the model whose maps are scored.
        view: the uint8 (H, W, 3) image as the network saw it (`ExplainResult.view`).
        grid: the native (rows, cols) of the maps to compare with (`result.raw_maps[name].shape`).
        target_index: the class whose probability the curves track.
        seeds: how many random maps to average (seeds 0 … seeds-1: reproducible).
        steps: deletion/insertion steps per curve, as for the maps it is compared with.
        batch_size: perturbed images per forward pass.
    """
    size = view.shape[:2]
    deletion, insertion = [], []
    for seed in range(max(1, seeds)):
        curves = deletion_insertion_curves(
            model, view, random_smooth_map(grid, size, seed), target_index, steps=steps, batch_size=batch_size
        )
        deletion.append(curves.deletion_auc)
        insertion.append(curves.insertion_auc)
    return RandomBaseline(
        deletion_auc=float(np.mean(deletion)),
        insertion_auc=float(np.mean(insertion)),
        deletion_std=float(np.std(deletion)),
        insertion_std=float(np.std(insertion)),
        seeds=len(deletion),
        grid=(int(grid[0]), int(grid[1])),
    )
