"""Image-folder datasets: one sub-folder per class, as torchvision's ImageFolder and the seeds use.

    pets/
      cat/  001.jpg 002.png ...
      dog/  a.jpg nested/b.jpg ...

`scan_image_folder` only lists files (fast, no decoding) and checks the layout: at least two
classes, each with enough images. Decoding, and skipping corrupt files, happens where the images
are used (`vitdemo.train.data`). `stratified_split` keeps every class's share the same in the
training and validation parts, reproducibly for a seed.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from vitdemo.errors import DatasetError

IMAGE_EXTENSIONS = frozenset({".jpg", ".jpeg", ".png", ".bmp", ".gif", ".webp", ".tif", ".tiff"})
MIN_IMAGES_PER_CLASS = 2  # one for training and one for validation, at the very least


@dataclass
class ImageFolder:
    """The listing of an image folder: class names and (path, class index) samples."""

    root: Path
    classes: list[str]
    samples: list[tuple[Path, int]]
    ignored: list[Path] = field(default_factory=list)  # files that are not images by extension

    def class_counts(self) -> dict[str, int]:
        """Images per class name, in class order."""
        counts = Counter(label for _, label in self.samples)
        return {name: counts.get(i, 0) for i, name in enumerate(self.classes)}


def _is_visible(path: Path) -> bool:
    return not path.name.startswith((".", "_"))


def _image_files(folder: Path) -> list[Path]:
    files = [p for p in folder.rglob("*") if p.is_file() and _is_visible(p)]
    return sorted(p for p in files if p.suffix.lower() in IMAGE_EXTENSIONS)


def _sub_folders(folder: Path) -> list[Path]:
    return [p for p in folder.iterdir() if p.is_dir() and _is_visible(p)]


def find_class_root(root: Path) -> Path:
    """Step into single wrapper folders (a zip of `pets/` holds `pets/cat`, `pets/dog`).

    A lone folder that holds only images is a class, not a wrapper: one class is then reported
    as such instead of being mistaken for the dataset.
    """
    current = root
    while True:
        folders = _sub_folders(current)
        loose_images = [p for p in current.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_EXTENSIONS]
        if len(folders) != 1 or loose_images or not _sub_folders(folders[0]):
            return current
        current = folders[0]


def check_class_counts(counts: dict[str, int], min_images_per_class: int = MIN_IMAGES_PER_CLASS) -> None:
    """Raise DatasetError unless there are ≥ 2 classes and each has enough images.

    Args:
        counts: images per class name.
        min_images_per_class: the fewest images a class may have.
    """
    if len(counts) < 2:
        only = f" (only '{next(iter(counts))}')" if counts else ""
        raise DatasetError(f"A classifier needs at least 2 classes; this dataset has {len(counts)}{only}.")
    small = {name: n for name, n in counts.items() if n < min_images_per_class}
    if small:
        listed = ", ".join(f"'{name}' has {n}" for name, n in small.items())
        raise DatasetError(f"Each class needs at least {min_images_per_class} usable images: {listed}.")


def scan_image_folder(root: str | Path, *, min_images_per_class: int = MIN_IMAGES_PER_CLASS) -> ImageFolder:
    """List an image folder: classes are sub-folder names (sorted), images are found recursively.

    Args:
        root: the folder (or a single wrapper folder around it).
        min_images_per_class: the fewest images a class may have.

    Raises:
        DatasetError: not a folder, no class folders, fewer than 2 classes, or a class too small.
    """
    root = Path(root).expanduser()
    if not root.is_dir():
        raise DatasetError(f"{root} is not a folder.")
    base = find_class_root(root)
    class_dirs = sorted(_sub_folders(base), key=lambda p: p.name)
    if not class_dirs:
        raise DatasetError(
            f"{root} has no class folders: put the images of each class in their own sub-folder (e.g. cat/, dog/)."
        )
    classes = [p.name for p in class_dirs]
    samples: list[tuple[Path, int]] = []
    ignored: list[Path] = []
    for label, folder in enumerate(class_dirs):
        samples += [(path, label) for path in _image_files(folder)]
        ignored += [p for p in folder.rglob("*") if p.is_file() and p.suffix.lower() not in IMAGE_EXTENSIONS]
    listing = ImageFolder(root=base, classes=classes, samples=samples, ignored=ignored)
    check_class_counts(listing.class_counts(), min_images_per_class)
    return listing


def stratified_split(
    labels: Sequence[int],
    val_fraction: float,
    seed: int,
) -> tuple[list[int], list[int]]:
    """Split sample indices into (train, val) with each class in the same proportion.

    Every class keeps at least one image on each side, so it needs at least two images.

    Args:
        labels: class index of each sample.
        val_fraction: share of each class that goes to validation, in (0, 1).
        seed: the same seed gives the same split.
    """
    if not 0.0 < val_fraction < 1.0:
        raise DatasetError(f"The validation share must be between 0 and 1, not {val_fraction}.")
    rng = np.random.default_rng(seed)
    labels_array = np.asarray(labels)
    train: list[int] = []
    val: list[int] = []
    for label in np.unique(labels_array):
        members = np.flatnonzero(labels_array == label)
        if len(members) < 2:
            raise DatasetError(f"Class {int(label)} has {len(members)} image; each class needs at least 2.")
        members = rng.permutation(members)
        n_val = min(len(members) - 1, max(1, round(len(members) * val_fraction)))
        val += members[:n_val].tolist()
        train += members[n_val:].tolist()
    return sorted(train), sorted(val)


class ImageFolderDataset(torch.utils.data.Dataset):
    """A torch Dataset over (path, label) samples: returns (transform(image), label).

    Images go through `vitdemo.data.images.load_image`, so they arrive validated and RGB. A file that
    turned corrupt since it was listed raises BadImageError; `vitdemo.train.data` decodes everything
    once up front and drops such files, so training never meets one.
    """

    def __init__(self, samples: Sequence[tuple[Path, int]], transform: Callable | None = None) -> None:
        self.samples = list(samples)
        self.transform = transform

    def __len__(self) -> int:
        return len(self.samples)

    def __getitem__(self, index: int):
        from vitdemo.data.images import load_image

        path, label = self.samples[index]
        image = load_image(path)
        return (self.transform(image) if self.transform else image), label
