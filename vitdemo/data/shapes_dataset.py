"""The Shapes dataset as a torch Dataset, an image-folder export, and the app's sample gallery."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
from PIL import Image
from torch.utils.data import Dataset

from vitdemo.data.shapes import SHAPE_CLASSES, SPLIT_SEEDS, ShapeSample, render_shape


def _split_seed(split: str) -> int:
    if split not in SPLIT_SEEDS:
        raise ValueError(f"split must be one of {', '.join(SPLIT_SEEDS)}, not {split!r}")
    return SPLIT_SEEDS[split]


class ShapesDataset(Dataset):
    """`size` rendered Shapes examples of one split, balanced over `classes`.

    Items are `(image, label)`: a PIL RGB image (or `transform(image)`) and the index of its class
    within `classes`. `sample(i)` also gives the ground-truth mask.

    Args:
        split: "train", "val" or "test" — each split is its own seed, so they never overlap.
        size: number of examples.
        classes: a subset of SHAPE_CLASSES (default: all six); labels are re-indexed to it.
        clutter: 0 (plain) … 1 (the full dataset).
        transform: applied to the PIL image.
    """

    def __init__(
        self,
        split: str = "train",
        size: int = 600,
        *,
        classes: list[str] | None = None,
        clutter: float = 1.0,
        transform: Callable | None = None,
    ):
        self.seed = _split_seed(split)
        self.classes = list(classes or SHAPE_CLASSES)
        unknown = set(self.classes) - set(SHAPE_CLASSES)
        if unknown:
            raise ValueError(f"unknown shape classes: {', '.join(sorted(unknown))}")
        self.size, self.clutter, self.transform = size, clutter, transform

    def __len__(self) -> int:
        return self.size

    def sample(self, i: int) -> ShapeSample:
        """Example i with its mask; its label is the index into SHAPE_CLASSES."""
        if not 0 <= i < self.size:
            raise IndexError(i)
        per_round = len(self.classes)
        label = SHAPE_CLASSES.index(self.classes[i % per_round])
        return render_shape(self.seed, i, clutter=self.clutter, label=label)

    def __getitem__(self, i: int):
        s = self.sample(i)
        image = Image.fromarray(s.image)
        return (self.transform(image) if self.transform else image), self.classes.index(s.class_name)


def export_image_folder(
    out_dir: str | Path,
    per_class: int,
    *,
    split: str = "train",
    classes: list[str] | None = None,
    clutter: float = 1.0,
) -> dict[str, int]:
    """Write `per_class` PNGs per class as `out_dir/<class>/<split>_<index>.png`; returns counts."""
    ds = ShapesDataset(split, per_class * len(classes or SHAPE_CLASSES), classes=classes, clutter=clutter)
    out = Path(out_dir)
    counts = dict.fromkeys(ds.classes, 0)
    for i in range(len(ds)):
        s = ds.sample(i)
        folder = out / s.class_name
        folder.mkdir(parents=True, exist_ok=True)
        Image.fromarray(s.image).save(folder / f"{split}_{i:05d}.png")
        counts[s.class_name] += 1
    return counts


def gallery(plain: bool = False) -> list[tuple[str, Image.Image, np.ndarray]]:
    """One test-split example per class: (caption, image, mask) — the app's sample gallery.

    Args:
        plain: quiet backgrounds and large shapes, for a first look in class.
    """
    kwargs = {"clutter": 0.0, "scale_range": (0.35, 0.55)} if plain else {}
    items = []
    for label, name in enumerate(SHAPE_CLASSES):
        s = render_shape(SPLIT_SEEDS["test"], 1000 + label, label=label, **kwargs)
        items.append((f"{name} ({'plain' if plain else 'cluttered'})", Image.fromarray(s.image), s.mask))
    return items
