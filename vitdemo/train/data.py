"""Training data for a run: Shapes, an image folder or an archive → decoded, split, in memory.

Every image is decoded once, through the project's one image loader, into exactly the view the
model sees at inference (`Preprocessing.view`): corrupt files are skipped and counted here, so an
epoch never meets one, and later epochs never decode again. The views are kept as one uint8
tensor (N, 3, H, W), which on a classroom dataset is a few hundred MB at most; a cap turns a
dataset too large for memory into a clear message instead of a swapping machine.
"""

from __future__ import annotations

import hashlib
import os
import shutil
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from vitdemo.data.archives import extract_archive
from vitdemo.data.image_folder import (
    ImageFolder,
    check_class_counts,
    scan_image_folder,
    stratified_split,
)
from vitdemo.errors import DatasetError, VitdemoError
from vitdemo.models.loaded import Preprocessing
from vitdemo.train.config import FineTuneConfig

ARCHIVE_SUFFIXES = (".zip", ".tar", ".tar.gz", ".tgz")
MAX_MEMORY_BYTES = 4 * 1024**3  # decoded views kept in memory; beyond this, ask for fewer images
SHAPES_SPLIT = "test"  # not the split the bundled demo models were trained on

ProgressFn = Callable[[int, int], None]  # (done, total)


@dataclass
class TrainingData:
    """Decoded, split images ready for training: views as the model sees them, before normalising."""

    classes: list[str]
    train_images: torch.Tensor  # uint8 (N_train, 3, H, W)
    train_labels: torch.Tensor  # int64 (N_train,)
    val_images: torch.Tensor  # uint8 (N_val, 3, H, W)
    val_labels: torch.Tensor  # int64 (N_val,)
    source: str  # one line for people: where the images came from
    skipped: list[tuple[str, str]] = field(default_factory=list)  # (file, reason) of unusable images

    def summary(self) -> dict:
        """Counts per class and split, and the skipped files: stored with the run."""

        def per_class(labels: torch.Tensor) -> dict[str, int]:
            counts = torch.bincount(labels, minlength=len(self.classes)).tolist()
            return dict(zip(self.classes, counts, strict=True))

        return {
            "source": self.source,
            "classes": self.classes,
            "train_counts": per_class(self.train_labels),
            "val_counts": per_class(self.val_labels),
            "skipped_count": len(self.skipped),
            "skipped": [{"file": f, "reason": r} for f, r in self.skipped[:50]],
        }


@dataclass
class DatasetPreview:
    """What the page shows before a run starts: classes, counts and a few example images."""

    source: str
    classes: list[str]
    counts: dict[str, int]
    examples: list[tuple[str, Image.Image]]  # (class name, image)
    ignored_files: int = 0  # files that are not images by their extension


def is_archive(path: str | Path) -> bool:
    return str(path).lower().endswith(ARCHIVE_SUFFIXES)


def _file_digest(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()[:16]


def save_upload(data: bytes, filename: str, root: str | Path) -> Path:
    """Keep an uploaded archive under `root/_uploads/` (named by content) and return its path.

    Runs then refer to a file on disk, so they can be repeated and their config stays meaningful.
    """
    suffix = next((s for s in ARCHIVE_SUFFIXES if filename.lower().endswith(s)), None)
    if suffix is None:
        raise DatasetError(f"{filename} is not a .zip or .tar.gz archive.")
    folder = Path(root) / "_uploads"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{hashlib.sha256(data).hexdigest()[:16]}{suffix}"
    if not path.exists():
        tmp = path.with_name(path.name + f".tmp-{os.getpid()}")
        tmp.write_bytes(data)
        tmp.replace(path)
    return path


def extracted_archive_dir(archive: str | Path, cache_root: str | Path) -> Path:
    """Extract `archive` (safely) under `cache_root/_datasets/<content hash>`; reuses a finished one.

    Several processes (torchrun ranks) may call this at once: each extracts into its own temporary
    folder and the first to finish renames it into place.
    """
    archive = Path(archive)
    if not archive.is_file():
        raise DatasetError(f"{archive} does not exist.")
    final = Path(cache_root) / "_datasets" / _file_digest(archive)
    if final.is_dir():
        return final
    scratch = final.with_name(f"{final.name}.tmp-{os.getpid()}")
    shutil.rmtree(scratch, ignore_errors=True)
    extract_archive(archive, scratch, label=archive.name)
    try:
        scratch.rename(final)
    except OSError:  # another process got there first: theirs is identical
        shutil.rmtree(scratch, ignore_errors=True)
    return final


def image_folder_for(data: str, cache_root: str | Path) -> ImageFolder:
    """The image folder behind a data setting: a folder as is, an archive extracted first."""
    path = Path(data).expanduser()
    if is_archive(path):
        return scan_image_folder(extracted_archive_dir(path, cache_root))
    if not path.exists():
        raise DatasetError(
            f"{data} does not exist: give an image folder, a .zip/.tar.gz archive, or 'shapes'."
        )
    return scan_image_folder(path)


def shapes_classes(config: FineTuneConfig) -> list[str]:
    from vitdemo.data.shapes import SHAPE_CLASSES

    chosen = list(config.shapes_classes or SHAPE_CLASSES)
    unknown = [c for c in chosen if c not in SHAPE_CLASSES]
    if unknown:
        raise DatasetError(
            f"Unknown Shapes classes: {', '.join(unknown)} (choose from {', '.join(SHAPE_CLASSES)})."
        )
    if len(set(chosen)) < 2:
        raise DatasetError("A classifier needs at least 2 classes: choose two or more shapes.")
    return chosen


def preview_dataset(
    config: FineTuneConfig, cache_root: str | Path, per_class_examples: int = 1
) -> DatasetPreview:
    """Classes, counts and a few images of the configured data, without decoding all of it.

    Args:
        config: the run settings (its data, shapes_classes and shapes_per_class are used).
        cache_root: where archives are extracted (the runs folder).
        per_class_examples: example images per class.
    """
    if config.data == "shapes":
        from vitdemo.data.shapes_dataset import ShapesDataset

        classes = shapes_classes(config)
        dataset = ShapesDataset(SHAPES_SPLIT, len(classes) * per_class_examples, classes=classes)
        examples = [(classes[label], image) for image, label in dataset]
        counts = dict.fromkeys(classes, config.shapes_per_class)
        return DatasetPreview("built-in Shapes dataset", classes, counts, examples)
    folder = image_folder_for(config.data, cache_root)
    examples = []
    for label, name in enumerate(folder.classes):
        paths = [p for p, y in folder.samples if y == label][:per_class_examples]
        for path in paths:
            image = _try_load(path)
            if image is not None:
                examples.append((name, image))
    return DatasetPreview(
        str(config.data), folder.classes, folder.class_counts(), examples, len(folder.ignored)
    )


def _try_load(path: Path) -> Image.Image | None:
    from vitdemo.data.images import load_image

    try:
        return load_image(path)
    except VitdemoError:
        return None


def _view_tensor(image: Image.Image, preprocessing: Preprocessing) -> torch.Tensor:
    return torch.from_numpy(np.array(preprocessing.view(image), dtype=np.uint8)).permute(2, 0, 1)  # (3, H, W)


def _check_memory(n_images: int, preprocessing: Preprocessing) -> None:
    h, w = preprocessing.input_size
    needed = n_images * 3 * h * w
    if needed > MAX_MEMORY_BYTES:
        raise DatasetError(
            f"{n_images:,} images at {h}x{w} need {needed / 1024**3:.1f} GB of memory, more than the "
            f"{MAX_MEMORY_BYTES / 1024**3:.0f} GB cap: use fewer images per class."
        )


def _decode_shapes(
    config: FineTuneConfig,
    preprocessing: Preprocessing,
    on_progress: ProgressFn,
    should_stop: Callable[[], bool],
) -> tuple[list[str], list[torch.Tensor], list[int], str]:
    from vitdemo.data.shapes_dataset import ShapesDataset

    classes = shapes_classes(config)
    dataset = ShapesDataset(SHAPES_SPLIT, len(classes) * config.shapes_per_class, classes=classes)
    _check_memory(len(dataset), preprocessing)
    views, labels = [], []
    for i in range(len(dataset)):
        if should_stop():
            raise PreparationStopped
        image, label = dataset[i]
        views.append(_view_tensor(image, preprocessing))
        labels.append(label)
        on_progress(i + 1, len(dataset))
    return classes, views, labels, f"Shapes: {config.shapes_per_class} images per class"


def _decode_folder(
    folder: ImageFolder,
    preprocessing: Preprocessing,
    on_progress: ProgressFn,
    should_stop: Callable[[], bool],
) -> tuple[list[torch.Tensor], list[int], list[tuple[str, str]]]:
    from vitdemo.data.images import load_image

    _check_memory(len(folder.samples), preprocessing)
    views, labels, skipped = [], [], []
    for i, (path, label) in enumerate(folder.samples):
        if should_stop():
            raise PreparationStopped
        try:
            views.append(_view_tensor(load_image(path), preprocessing))
            labels.append(label)
        except VitdemoError as err:  # one bad image is reported and skipped; the rest goes on
            skipped.append((str(path.relative_to(folder.root)), str(err)))
        on_progress(i + 1, len(folder.samples))
    return views, labels, skipped


class PreparationStopped(Exception):
    """Raised inside data preparation when the run is stopped; the engine turns it into a stop."""


def prepare_training_data(
    config: FineTuneConfig,
    preprocessing: Preprocessing,
    cache_root: str | Path,
    *,
    on_progress: ProgressFn | None = None,
    should_stop: Callable[[], bool] | None = None,
) -> TrainingData:
    """Decode the configured images into model-ready views and split them (stratified, seeded).

    Args:
        config: run settings (data, shapes options, val_fraction, seed).
        preprocessing: the model's preprocessing: images are stored as its `view`.
        cache_root: where archives are extracted (the runs folder).
        on_progress: called with (decoded, total) as images are decoded.
        should_stop: polled between images; True abandons preparation.

    Raises:
        DatasetError: unusable dataset (layout, fewer than 2 classes, too few images per class).
    """
    on_progress = on_progress or (lambda done, total: None)
    should_stop = should_stop or (lambda: False)
    skipped: list[tuple[str, str]] = []
    if config.data == "shapes":
        classes, views, labels, source = _decode_shapes(config, preprocessing, on_progress, should_stop)
    else:
        folder = image_folder_for(config.data, cache_root)
        classes, source = folder.classes, f"{config.data} ({folder.root.name})"
        views, labels, skipped = _decode_folder(folder, preprocessing, on_progress, should_stop)
        counts = np.bincount(np.asarray(labels, dtype=np.int64), minlength=len(classes))
        check_class_counts(dict(zip(classes, counts.tolist(), strict=True)))
    train_idx, val_idx = stratified_split(labels, config.val_fraction, config.seed)
    images = torch.stack(views)  # (N, 3, H, W) uint8
    label_tensor = torch.tensor(labels, dtype=torch.int64)
    return TrainingData(
        classes=classes,
        train_images=images[train_idx],
        train_labels=label_tensor[train_idx],
        val_images=images[val_idx],
        val_labels=label_tensor[val_idx],
        source=source,
        skipped=skipped,
    )
