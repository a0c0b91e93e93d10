"""The images a session works on: uploads and gallery picks, as bytes plus a digest.

Pages never keep PIL images between reruns: a `SessionImage` holds the bytes the user gave us and
their SHA-256 digest, which keys every cached result. Decoding goes through the project's one image
loader (`vitdemo.data.images.load_image`, via `vitdemo.ui.cache.decode`), so a bad upload becomes
one sentence beside that image while the others carry on.
"""

from __future__ import annotations

import hashlib
import io
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np
from PIL import Image

from vitdemo.data.shapes import SHAPE_CLASSES
from vitdemo.data.shapes_dataset import gallery

PHOTO_GALLERY_DIR = Path(__file__).resolve().parents[1] / "data" / "gallery"
PHOTO_SUFFIXES = {".jpg", ".jpeg", ".png", ".webp"}


@dataclass(frozen=True, eq=False)
class SessionImage:
    """One image as the user supplied it.

    Attributes:
        name: file name or gallery name, shown as the image's title.
        data: the raw bytes (any format the loader accepts).
        digest: SHA-256 of `data`, the cache key of everything computed from it.
        true_label: the known class of a gallery Shapes image, None for uploads.
        mask: ground-truth object mask (H, W) bool of a gallery Shapes image, None for uploads.
    """

    name: str
    data: bytes
    digest: str
    true_label: str | None = None
    mask: np.ndarray | None = None

    @classmethod
    def from_bytes(cls, name: str, data: bytes, **extra) -> SessionImage:
        return cls(name=name, data=data, digest=hashlib.sha256(data).hexdigest(), **extra)


@dataclass(frozen=True, eq=False)
class DecodedImage:
    """A `SessionImage` after the loader: the RGB image, or the one-line reason it is unusable."""

    name: str
    digest: str
    image: Image.Image | None
    error: str | None
    true_label: str | None = None
    mask: np.ndarray | None = None

    @property
    def ok(self) -> bool:
        return self.image is not None


def _png_bytes(pixels: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="PNG")
    return buffer.getvalue()


@lru_cache(maxsize=1)
def shapes_gallery() -> tuple[SessionImage, ...]:
    """Shapes test-split images, one per class, plain then cluttered, with true labels and masks.

    Always available offline; the plain ones are the gentle first look in class.
    """
    items = []
    for plain in (True, False):
        for (caption, image, mask), name in zip(gallery(plain=plain), SHAPE_CLASSES, strict=True):
            png = _png_bytes(np.asarray(image))
            items.append(SessionImage.from_bytes(f"Shapes: {caption}", png, true_label=name, mask=mask))
    return tuple(items)


@lru_cache(maxsize=1)
def photo_gallery() -> tuple[SessionImage, ...]:
    """Real photos shipped in `vitdemo/data/gallery/` (for ImageNet models); empty when there are none."""
    if not PHOTO_GALLERY_DIR.is_dir():
        return ()
    files = sorted(p for p in PHOTO_GALLERY_DIR.iterdir() if p.suffix.lower() in PHOTO_SUFFIXES)
    return tuple(SessionImage.from_bytes(f"Photo: {p.stem.replace('_', ' ')}", p.read_bytes()) for p in files)


def gallery_items() -> dict[str, SessionImage]:
    """Every gallery image by its display name: Shapes always, photos when shipped."""
    return {item.name: item for item in (*shapes_gallery(), *photo_gallery())}
