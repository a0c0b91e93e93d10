"""The one image loader behind every entry point (CLI paths, app uploads, notebooks).

Everything users feed us goes through `load_image`: it decodes, validates and normalises, so the code
after it can trust a plain RGB image of sane size. Each rejection is a `BadImageError` whose text is
one plain sentence for a person ("photo.jpg: is a truncated or corrupt JPEG image: part of the file is
missing or damaged"); Pillow's own wording ("Truncated File Read", "… could be decompression bomb DOS
attack.") is for developers and never reaches the message.

What it does, in order:
  * reads the bytes, refusing empty and oversized files;
  * opens them with Pillow, restricted to raster formats that decode without external programs
    (no EPS/Ghostscript), and names a few common non-images (PDF, SVG, HEIC, ZIP) in its messages;
  * refuses decompression bombs from the header alone, before any pixel is decoded;
  * decodes JPEGs at reduced scale when they are far bigger than needed (`draft`), then caps the
    longest side at `MAX_SIDE`;
  * takes the first frame of animations and multi-page files;
  * converts every mode to RGB: alpha composited on white, 16-bit and float scaled to 8 bits,
    CMYK and embedded colour profiles converted to sRGB;
  * applies the EXIF orientation, so phone photos stand upright.
"""

from __future__ import annotations

import io
import math
import warnings
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import numpy as np
from PIL import Image, UnidentifiedImageError

from vitdemo.errors import BadImageError, one_line

ImageSource = str | Path | bytes | bytearray | memoryview | IO[bytes] | Image.Image

MAX_FILE_BYTES = 100 * 1024 * 1024  # bigger uploads are refused before reading them whole
MAX_DECODED_PIXELS = 100_000_000  # the most pixels we decode at full scale (JPEGs are drafted smaller)
MAX_SIDE = 4096  # longest side kept; the networks see 224-518 px, overlays need no more
MIN_SIDE = 16  # one ViT patch: anything smaller carries no spatial information at all
WHITE = (255, 255, 255)

# Raster formats Pillow decodes by itself. EPS is excluded on purpose: it runs Ghostscript.
_ALLOWED_FORMATS = (
    "JPEG",
    "MPO",
    "PNG",
    "GIF",
    "WEBP",
    "BMP",
    "DIB",
    "TIFF",
    "PPM",
    "TGA",
    "ICO",
    "AVIF",
    "QOI",
)

# Byte signatures of things people mistake for images, to name them in the error.
_NOT_IMAGE_SIGNATURES: tuple[tuple[bytes, str], ...] = (
    (b"%PDF", "is a PDF document, not an image"),
    (b"PK\x03\x04", "is a ZIP archive, not an image"),
    (b"<svg", "is an SVG drawing; export it as PNG first"),
    (b"<?xml", "is an XML/SVG file; export it as PNG first"),
    (b"<!doctype html", "is a web page (HTML), not an image"),
    (b"<html", "is a web page (HTML), not an image"),
)
_HEIF_BRANDS = (b"heic", b"heix", b"hevc", b"heim", b"heis", b"mif1", b"msf1")

# EXIF orientation tag value → the transpose that makes the picture upright.
_EXIF_ORIENTATION_TAG = 0x0112
_ORIENTATION_FIX = {
    2: Image.Transpose.FLIP_LEFT_RIGHT,
    3: Image.Transpose.ROTATE_180,
    4: Image.Transpose.FLIP_TOP_BOTTOM,
    5: Image.Transpose.TRANSPOSE,
    6: Image.Transpose.ROTATE_270,
    7: Image.Transpose.TRANSVERSE,
    8: Image.Transpose.ROTATE_90,
}


def load_image(src: ImageSource, name: str | None = None) -> Image.Image:
    """Decode, validate and normalise one image from a path, bytes, an upload or a PIL image.

    Args:
        src: a file path, raw bytes, a binary file-like object (e.g. a Streamlit upload) or a
            PIL image.
        name: how to call the image in messages; defaults to the path or the upload's `.name`.

    Returns:
        A fully decoded RGB image, longest side at most `MAX_SIDE`, upright. Its `info` holds
        `source_name`, `original_size` (width, height as stored) and `format`.

    Raises:
        BadImageError: with one line saying what is wrong with this input.
    """
    name = name or _default_name(src)
    if isinstance(src, Image.Image):
        return _normalise(src, name, orientation=_read_orientation(src))
    data = _read_bytes(src, name)
    return _decode(data, name)


@dataclass(frozen=True)
class ImageItem:
    """One input of a batch: its name and either the image or the reason it was refused."""

    name: str
    image: Image.Image | None = None
    error: BadImageError | None = None

    @property
    def ok(self) -> bool:
        return self.image is not None


@dataclass
class ImageBatch:
    """The outcome of loading several inputs; order is preserved and nothing is dropped silently."""

    items: list[ImageItem] = field(default_factory=list)

    @property
    def images(self) -> list[tuple[str, Image.Image]]:
        """(name, image) of every input that loaded."""
        return [(item.name, item.image) for item in self.items if item.image is not None]

    @property
    def errors(self) -> list[tuple[str, str]]:
        """(name, one-line message) of every input that was refused."""
        return [(item.name, str(item.error)) for item in self.items if item.error is not None]


def load_images(sources: Iterable[ImageSource], names: Sequence[str] | None = None) -> ImageBatch:
    """Load many images; a bad one is recorded with its reason and the rest carry on.

    Args:
        sources: anything `load_image` accepts, one per image.
        names: optional display names, index-aligned with `sources`.

    Returns:
        An `ImageBatch` with one item per source, in input order.
    """
    batch = ImageBatch()
    for i, src in enumerate(sources):
        name = names[i] if names is not None else _default_name(src)
        try:
            batch.items.append(ImageItem(name=name, image=load_image(src, name=name)))
        except BadImageError as err:
            batch.items.append(ImageItem(name=name, error=err))
    return batch


# --- reading -------------------------------------------------------------------------------------


def _default_name(src: Any) -> str:
    if isinstance(src, str | Path):
        return str(src)
    upload_name = getattr(src, "name", None)
    return str(upload_name) if isinstance(upload_name, str) and upload_name else "image"


def _read_bytes(src: Any, name: str) -> bytes:
    if isinstance(src, bytes | bytearray | memoryview):
        data = bytes(src)
    elif isinstance(src, str | Path):
        data = _read_path(Path(src).expanduser(), name)
    elif hasattr(src, "getvalue") or hasattr(src, "read"):
        data = _read_file_object(src, name)
    else:
        raise BadImageError(f"is a {type(src).__name__}, not an image file, bytes or upload", name)
    if not data:
        raise BadImageError("is empty (0 bytes)", name)
    if len(data) > MAX_FILE_BYTES:
        raise BadImageError(f"is {_megabytes(len(data))}; the limit is {_megabytes(MAX_FILE_BYTES)}", name)
    return data


def _read_path(path: Path, name: str) -> bytes:
    try:
        if path.is_dir():
            raise BadImageError("is a folder, not an image file", name)
        size = path.stat().st_size
        if size > MAX_FILE_BYTES:
            raise BadImageError(f"is {_megabytes(size)}; the limit is {_megabytes(MAX_FILE_BYTES)}", name)
        return path.read_bytes()
    except FileNotFoundError:
        raise BadImageError("does not exist", name) from None
    except OSError as err:
        raise BadImageError(f"cannot be read ({err.strerror or err})", name) from None


def _read_file_object(src: Any, name: str) -> bytes:
    try:
        # Uploads (Streamlit, BytesIO) keep their whole content: getvalue ignores the read position.
        data = src.getvalue() if hasattr(src, "getvalue") else src.read(MAX_FILE_BYTES + 1)
    except (OSError, ValueError) as err:
        raise BadImageError(f"cannot be read ({err})", name) from None
    if not isinstance(data, bytes | bytearray | memoryview):
        raise BadImageError("is not a binary file (open it in 'rb' mode)", name)
    return bytes(data)


def _megabytes(n: int) -> str:
    return f"{n / 1024 / 1024:.0f} MB"


# --- decoding ------------------------------------------------------------------------------------


def _decode(data: bytes, name: str) -> Image.Image:
    image = _open(data, name)
    width, height = image.size
    _check_dimensions(image, name)
    orientation = _read_orientation(image)
    _draft_large_jpeg(image)
    try:
        image.load()  # decodes the first frame only: animations and multi-page files stop here
    except Exception:  # Pillow raises OSError, SyntaxError, ValueError... for broken data
        raise BadImageError(
            f"is a truncated or corrupt {image.format} image: part of the file is missing or damaged", name
        ) from None
    return _normalise(image, name, orientation=orientation, original_size=(width, height))


def _open(data: bytes, name: str) -> Image.Image:
    with warnings.catch_warnings():
        # Sizes are checked against our own limits right after; Pillow's warning would only add noise.
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)
        try:
            formats = _allowed_formats()
            # verify() checks structure and checksums (PNG CRCs) that decoding alone would not:
            # a damaged PNG must not load as silent garbage. It consumes the image, so open twice.
            Image.open(io.BytesIO(data), formats=formats).verify()
            return Image.open(io.BytesIO(data), formats=formats)
        except Image.DecompressionBombError:
            raise BadImageError(
                f"claims over {2 * (Image.MAX_IMAGE_PIXELS or 0) / 1e6:,.0f} megapixels and looks like a "
                "decompression bomb, so it was not opened",
                name,
            ) from None
        except UnidentifiedImageError:
            raise BadImageError(_not_an_image_reason(data), name) from None
        except Exception:  # corrupt headers surface as many exception types
            raise BadImageError("is a corrupt image file: its header or data is damaged", name) from None


def _allowed_formats() -> list[str]:
    Image.init()
    return [f for f in _ALLOWED_FORMATS if f in Image.OPEN]


def _not_an_image_reason(data: bytes) -> str:
    head = data[:512].lstrip().lower()
    for signature, reason in _NOT_IMAGE_SIGNATURES:
        if head.startswith(signature.lower()):
            return reason
    if data[4:8] == b"ftyp" and data[8:12] in _HEIF_BRANDS:
        return "is a HEIC/HEIF photo, which we cannot read; export it as JPEG or PNG"
    if _looks_like_text(data[:512]):
        return "is a text file, not an image (whatever its name says)"
    return "is not an image we can read (use JPEG, PNG, WebP, GIF, BMP or TIFF)"


def _looks_like_text(head: bytes) -> bool:
    try:
        text = head.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return all(ch.isprintable() or ch in "\r\n\t" for ch in text)


def _check_dimensions(image: Image.Image, name: str) -> None:
    width, height = image.size
    # JPEGs decode at down to 1/8 scale (draft); bigger ones than Pillow's own hard limit
    # (2 × Image.MAX_IMAGE_PIXELS, ~179 MP) were already refused by Image.open.
    if image.format not in ("JPEG", "MPO") and width * height > MAX_DECODED_PIXELS:
        raise BadImageError(
            f"claims {width}×{height} pixels ({width * height / 1e6:,.0f} megapixels), over the "
            f"{MAX_DECODED_PIXELS / 1e6:,.0f}-megapixel limit: it may be a decompression bomb, "
            "or a real picture to downscale first",
            name,
        )
    if min(width, height) < MIN_SIDE:
        raise BadImageError(
            f"is only {width}×{height} pixels; the smallest we accept is {MIN_SIDE}×{MIN_SIDE} (one ViT patch)",
            name,
        )


def _draft_large_jpeg(image: Image.Image) -> None:
    """Ask the JPEG decoder for a reduced-scale decode (1/2 … 1/8) when the photo is far too big."""
    width, height = image.size
    if image.format not in ("JPEG", "MPO") or max(width, height) <= MAX_SIDE:
        return
    scale = MAX_SIDE / max(width, height)
    # draft never goes below the requested size, so the longest side stays >= MAX_SIDE.
    image.draft(image.mode, (math.ceil(width * scale), math.ceil(height * scale)))


def _read_orientation(image: Image.Image) -> int:
    try:
        return int(image.getexif().get(_EXIF_ORIENTATION_TAG, 1))
    except Exception:  # a broken EXIF block must not cost the user their image
        return 1


# --- normalising ---------------------------------------------------------------------------------


def _normalise(
    image: Image.Image,
    name: str,
    *,
    orientation: int,
    original_size: tuple[int, int] | None = None,
) -> Image.Image:
    """Any decoded PIL image → upright RGB with the longest side <= MAX_SIDE.

    `original_size` is the size stored in the file, when a reduced-scale decode made `image` smaller.
    """
    if min(image.size) < MIN_SIDE:
        _check_dimensions(image, name)
    try:
        rgb = _to_rgb(image)
    except BadImageError:
        raise
    except Exception as err:
        raise BadImageError(
            f"uses colour mode {image.mode}, which we cannot convert ({one_line(err)})", name
        ) from None
    if max(rgb.size) > MAX_SIDE:
        rgb.thumbnail((MAX_SIDE, MAX_SIDE), Image.Resampling.LANCZOS)
    if orientation in _ORIENTATION_FIX:
        rgb = rgb.transpose(_ORIENTATION_FIX[orientation])
    # A clean info dict: the caller gets facts about the source, not stale EXIF/ICC bytes.
    rgb.info = {"source_name": name, "original_size": original_size or image.size, "format": image.format}
    return rgb


def _to_rgb(image: Image.Image) -> Image.Image:
    mode = image.mode
    if mode.startswith("I") or mode == "F":
        return _high_depth_to_rgb(image)
    if mode in ("RGBA", "LA", "PA", "La", "RGBa") or "transparency" in image.info:
        return _composite_on_white(image)
    if mode in ("RGB", "CMYK") and image.info.get("icc_profile"):
        converted = _icc_to_srgb(image)
        if converted is not None:
            return converted
    return image.convert("RGB")


def _composite_on_white(image: Image.Image) -> Image.Image:
    rgba = image.convert("RGBA")
    background = Image.new("RGBA", rgba.size, (*WHITE, 255))
    return Image.alpha_composite(background, rgba).convert("RGB")


def _high_depth_to_rgb(image: Image.Image) -> Image.Image:
    """16-bit and 32-bit integer or float pixels → 8-bit grey, keeping relative brightness."""
    values = np.asarray(image).astype(np.float64)
    low, high = (float(values.min()), float(values.max())) if values.size else (0.0, 0.0)
    if image.mode.startswith("I;16") or (image.mode == "I" and low >= 0 and 255 < high <= 65535):
        scaled = values / 257.0  # the full 16-bit range maps onto 0..255, as a viewer shows it
    elif image.mode == "I" and low >= 0 and high <= 255:
        scaled = values
    elif image.mode == "F" and low >= 0 and high <= 1:
        scaled = values * 255.0
    elif high > low:  # no known range: stretch what is there
        scaled = (values - low) * (255.0 / (high - low))
    else:
        scaled = np.zeros_like(values)
    grey = Image.fromarray(np.clip(np.rint(scaled), 0, 255).astype(np.uint8))  # 2-D uint8 → "L"
    return grey.convert("RGB")


def _icc_to_srgb(image: Image.Image) -> Image.Image | None:
    """Convert with the embedded colour profile (CMYK, Display P3, Adobe RGB); None if impossible."""
    try:
        from PIL import ImageCms

        source = ImageCms.ImageCmsProfile(io.BytesIO(image.info["icc_profile"]))
        converted = ImageCms.profileToProfile(image, source, ImageCms.createProfile("sRGB"), outputMode="RGB")
    except Exception:  # no littlecms, a broken profile: the plain conversion below is still right enough
        return None
    return converted if isinstance(converted, Image.Image) else None


__all__ = ["MAX_SIDE", "MIN_SIDE", "ImageBatch", "ImageItem", "ImageSource", "load_image", "load_images"]
