"""The images a session works on: uploads and gallery picks, as bytes plus a digest.

Pages never hold PIL images between reruns: an `ImageItem` keeps the original bytes (what the
user gave us) and their SHA-256 digest, which keys every cached result. Decoding goes through the
project's one image loader, so a bad upload becomes one sentence beside that image.
"""

from __future__ import annotations

import hashlib
import io
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np
from PIL import Image

from vitdemo.data.images import load_image
from vitdemo.data.shapes import SHAPE_CLASSES
from vitdemo.data.shapes_dataset import gallery
from vitdemo.errors import BadImageError

PHOTO_GALLERY_DIR = Path(__file__).resolve().parents[1] / "data" / "gallery"
PHOTO_SUFFIXES = {".jpg", ".jpeg", ".png", ".webp"}


@dataclass(frozen=True, eq=False)
class ImageItem:
    """One image as the user supplied it.

    Attributes:
        name: file name or gallery name, shown as the image's title.
        data: the raw bytes (any format the loader accepts).
        digest: SHA-256 of `data`, the cache key of everything computed from it.
        true_label: the known class for gallery Shapes, None for uploads.
        mask: ground-truth object mask (H, W) bool for gallery Shapes, None for uploads.
    """

    name: str
    data: bytes
    digest: str
    true_label: str | None = None
    mask: np.ndarray | None = None

    @classmethod
    def from_bytes(cls, name: str, data: bytes, **extra) -> ImageItem:
        return cls(name=name, data=data, digest=hashlib.sha256(data).hexdigest(), **extra)


@dataclass(frozen=True, eq=False)
class DecodedImage:
    """An `ImageItem` after the loader: the RGB image, or the one-line reason it is unusable."""

    item: ImageItem
    image: Image.Image | None
    error: str | None


def decode(item: ImageItem) -> DecodedImage:
    """Validate and decode one item through `vitdemo.data.images.load_image`; never raises for bad input."""
    try:
        return DecodedImage(item, load_image(item.data, name=item.name), None)
    except BadImageError as err:
        return DecodedImage(item, None, str(err))


def _png_bytes(pixels: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="PNG")
    return buffer.getvalue()


@lru_cache(maxsize=1)
def shapes_gallery() -> tuple[ImageItem, ...]:
    """Shapes test-split images, one per class, plain then cluttered, with true labels and masks.

    Always available offline; the plain ones are the gentle first look in class.
    """
    items = []
    for plain in (True, False):
        for (caption, image, mask), name in zip(gallery(plain=plain), SHAPE_CLASSES, strict=True):
            png = _png_bytes(np.asarray(image))
            items.append(ImageItem.from_bytes(f"Shapes: {caption}", png, true_label=name, mask=mask))
    return tuple(items)


@lru_cache(maxsize=1)
def photo_gallery() -> tuple[ImageItem, ...]:
    """Real photos shipped in `vitdemo/data/gallery/` (for ImageNet models); empty when there are none."""
    if not PHOTO_GALLERY_DIR.is_dir():
        return ()
    files = sorted(p for p in PHOTO_GALLERY_DIR.iterdir() if p.suffix.lower() in PHOTO_SUFFIXES)
    return tuple(ImageItem.from_bytes(f"Photo: {p.stem.replace('_', ' ')}", p.read_bytes()) for p in files)
