"""The image loader against the files users really upload: each kind gets its expected outcome.

Every file is generated here. Good-but-unusual files must come back as upright RGB images with
the right colours; bad files must be refused with one line that starts with the file's name.
"""

from __future__ import annotations

import io
import struct
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from vitdemo.data.images import MAX_SIDE, load_image, load_images
from vitdemo.errors import BadImageError

RED, GREEN, BLUE, WHITE = (255, 0, 0), (0, 255, 0), (0, 0, 255), (255, 255, 255)


def encode(image: Image.Image, fmt: str, **options) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format=fmt, **options)
    return buffer.getvalue()


def pixel(image: Image.Image, x: int, y: int) -> tuple[int, int, int]:
    return tuple(int(v) for v in image.getpixel((x, y)))


def close_to(actual, expected, tolerance: int = 12) -> bool:
    return all(abs(a - e) <= tolerance for a, e in zip(actual, expected, strict=True))


def png_with_claimed_size(width: int, height: int) -> bytes:
    """A valid small PNG whose header claims another size (how decompression bombs look)."""
    data = bytearray(encode(Image.new("RGB", (32, 32), RED), "PNG"))
    ihdr = data[12:29]  # chunk type + 13 data bytes
    ihdr[4:12] = struct.pack(">II", width, height)
    data[12:29] = ihdr
    data[29:33] = struct.pack(">I", zlib.crc32(bytes(ihdr)) & 0xFFFFFFFF)
    return bytes(data)


def refused(src, name: str = "upload.jpg") -> BadImageError:
    with pytest.raises(BadImageError) as info:
        load_image(src, name=name)
    message = str(info.value)
    assert "\n" not in message, "a refusal is one line"
    assert message.startswith(f"{name}: ")
    return info.value


# --- files that must be refused ------------------------------------------------------------------


def test_zero_byte_file(tmp_path):
    path = tmp_path / "empty.jpg"
    path.write_bytes(b"")
    assert "empty" in refused(path, "empty.jpg").reason


def test_text_renamed_jpg(tmp_path):
    path = tmp_path / "notes.jpg"
    path.write_text("these are my lecture notes, not a photo\n")
    assert "text file" in refused(path, "notes.jpg").reason


def plain_sentence(reason: str) -> bool:
    """One sentence in our words: no library text in brackets, no Pillow jargon."""
    return "(" not in reason and "DOS attack" not in reason and "Truncated File Read" not in reason


def test_truncated_jpeg_gets_one_plain_sentence():
    data = encode(Image.effect_noise((256, 256), 64).convert("RGB"), "JPEG", quality=90)
    reason = refused(data[: len(data) // 2], "truncated.jpg").reason
    assert reason == "is a truncated or corrupt JPEG image: part of the file is missing or damaged"


def test_corrupt_png_body():
    data = bytearray(encode(Image.effect_noise((64, 64), 64).convert("RGB"), "PNG"))
    data[60:200] = b"\x00" * 140  # keeps a valid header, breaks the compressed pixel data
    reason = refused(bytes(data), "broken.png").reason
    assert "corrupt" in reason and plain_sentence(reason)


def test_decompression_bomb_header_is_refused_before_decoding_in_one_plain_sentence():
    reason = refused(png_with_claimed_size(60_000, 60_000), "bomb.png").reason  # 3.6 billion pixels
    assert "decompression bomb" in reason and "megapixels" in reason
    assert plain_sentence(reason)


def test_oversized_png_over_our_pixel_limit():
    reason = refused(png_with_claimed_size(12_000, 9_000), "big.png").reason
    assert "12000×9000" in reason and "megapixel limit" in reason


def test_one_pixel_image_is_refused_with_the_minimum():
    reason = refused(encode(Image.new("RGB", (1, 1), RED), "PNG"), "pixel.png").reason
    assert "1×1" in reason and "16×16" in reason


def test_pdf_heic_and_eps_are_named_or_refused():
    assert "PDF" in refused(b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj\n", "doc.jpg").reason
    heic = b"\x00\x00\x00\x18ftypheic\x00\x00\x00\x00mif1heic" + b"\x00" * 64
    assert "HEIC" in refused(heic, "IMG_0001.heic").reason
    # EPS would run Ghostscript: it must never be decoded, whatever its name.
    eps = b"%!PS-Adobe-3.0 EPSF-3.0\n%%BoundingBox: 0 0 32 32\nshowpage\n"
    assert "not" in refused(eps, "figure.eps").reason


def test_missing_path_and_folder(tmp_path):
    assert "does not exist" in refused(tmp_path / "nope.png", "nope.png").reason
    assert "folder" in refused(tmp_path, "photos").reason


# --- unusual files that must load ----------------------------------------------------------------


def test_16_bit_grayscale_png_is_scaled_not_clipped():
    values = np.array([[0, 32896, 65535, 65535]], dtype=np.uint16).repeat(4, axis=1).repeat(16, axis=0)
    image = load_image(encode(Image.fromarray(values), "PNG"), name="depth.png")
    assert image.mode == "RGB"
    assert pixel(image, 0, 0) == (0, 0, 0)
    assert close_to(pixel(image, 5, 0), (128, 128, 128), 1)
    assert pixel(image, 15, 0) == WHITE


def test_cmyk_jpeg_becomes_rgb_with_its_colour():
    cyan = Image.new("CMYK", (32, 32), (255, 0, 0, 0))
    image = load_image(encode(cyan, "JPEG", quality=95), name="print.jpg")
    assert image.mode == "RGB"
    assert close_to(pixel(image, 16, 16), (0, 255, 255), 20)


def test_rgba_png_transparency_becomes_white():
    rgba = Image.new("RGBA", (32, 32), (0, 0, 0, 0))
    rgba.paste((255, 0, 0, 255), (0, 0, 16, 32))
    image = load_image(encode(rgba, "PNG"), name="logo.png")
    assert image.mode == "RGB"
    assert pixel(image, 4, 4) == RED
    assert pixel(image, 28, 4) == WHITE  # transparent black must not turn black


def test_la_png_transparency_becomes_white():
    la = Image.new("LA", (32, 32), (0, 0))
    la.paste((0, 255), (0, 0, 16, 32))
    image = load_image(encode(la, "PNG"), name="grey-alpha.png")
    assert pixel(image, 4, 4) == (0, 0, 0)
    assert pixel(image, 28, 4) == WHITE


def test_palette_png_with_transparent_index():
    palette_image = Image.new("P", (32, 32), 0)
    palette_image.putpalette([0, 0, 0, 0, 0, 255] + [0] * 762)
    palette_image.paste(1, (0, 0, 16, 32))
    image = load_image(encode(palette_image, "PNG", transparency=0), name="sticker.png")
    assert pixel(image, 4, 4) == BLUE
    assert pixel(image, 28, 4) == WHITE


def test_animated_gif_gives_its_first_frame():
    frames = [Image.new("RGB", (32, 32), RED), Image.new("RGB", (32, 32), BLUE)]
    data = encode(frames[0], "GIF", save_all=True, append_images=frames[1:], duration=100, loop=0)
    assert Image.open(io.BytesIO(data)).n_frames == 2
    image = load_image(data, name="cat.gif")
    assert close_to(pixel(image, 16, 16), RED)


def test_multipage_tiff_gives_its_first_page():
    pages = [Image.new("RGB", (32, 32), GREEN), Image.new("RGB", (32, 32), BLUE)]
    data = encode(pages[0], "TIFF", save_all=True, append_images=pages[1:])
    assert close_to(pixel(load_image(data, name="scan.tiff"), 16, 16), GREEN)


def test_exif_rotated_photo_stands_upright():
    # Stored landscape, left half red; orientation 6 means "rotate 90° clockwise to display".
    stored = Image.new("RGB", (64, 32), BLUE)
    stored.paste(RED, (0, 0, 32, 32))
    exif = Image.Exif()
    exif[0x0112] = 6
    image = load_image(encode(stored, "JPEG", quality=95, exif=exif.tobytes()), name="phone.jpg")
    assert image.size == (32, 64)
    assert close_to(pixel(image, 16, 8), RED, 30)  # the left half is now on top
    assert close_to(pixel(image, 16, 56), BLUE, 30)
    assert image.info["original_size"] == (64, 32)


def test_webp_bmp_grayscale_and_one_bit_load_as_rgb():
    samples = {
        "photo.webp": encode(Image.new("RGB", (40, 30), GREEN), "WEBP", lossless=True),
        "paint.bmp": encode(Image.new("RGB", (40, 30), BLUE), "BMP"),
        "grey.jpg": encode(Image.new("L", (40, 30), 77), "JPEG", quality=95),
        "fax.png": encode(Image.new("1", (40, 30), 1), "PNG"),
    }
    expected = {"photo.webp": GREEN, "paint.bmp": BLUE, "grey.jpg": (77, 77, 77), "fax.png": WHITE}
    for name, data in samples.items():
        image = load_image(data, name=name)
        assert (image.mode, image.size) == ("RGB", (40, 30)), name
        assert close_to(pixel(image, 20, 15), expected[name], 3), name


def test_float_tiff_is_stretched_to_8_bit():
    values = np.linspace(-5.0, 5.0, 32 * 32, dtype=np.float32).reshape(32, 32)
    image = load_image(encode(Image.fromarray(values, mode="F"), "TIFF"), name="science.tif")
    assert pixel(image, 0, 0) == (0, 0, 0)
    assert pixel(image, 31, 31) == WHITE


def test_huge_jpeg_is_downscaled_while_decoding():
    photo = Image.new("RGB", (9000, 6000), (120, 80, 40))
    image = load_image(encode(photo, "JPEG", quality=80), name="dslr.jpg")
    assert max(image.size) == MAX_SIDE
    assert image.size == (MAX_SIDE, 2731)
    assert image.info["original_size"] == (9000, 6000)
    assert close_to(pixel(image, 100, 100), (120, 80, 40), 4)


def test_long_png_is_downscaled_keeping_its_aspect():
    image = load_image(encode(Image.new("RGB", (8192, 64), RED), "PNG"), name="banner.png")
    assert image.size == (MAX_SIDE, 32)


# --- entry points --------------------------------------------------------------------------------


def test_upload_objects_use_their_own_name():
    upload = io.BytesIO(encode(Image.new("RGB", (32, 32), RED), "PNG"))
    upload.name = "holiday.png"
    upload.read()  # a widget may already have read it: the whole content must still be used
    image = load_image(upload)
    assert image.info["source_name"] == "holiday.png"
    bad = io.BytesIO(b"not an image at all, sorry")
    bad.name = "cv.docx"
    with pytest.raises(BadImageError, match=r"^cv\.docx: "):
        load_image(bad)


def test_pil_image_input_is_normalised():
    image = load_image(Image.new("RGBA", (32, 32), (0, 0, 0, 0)), name="in-memory")
    assert image.mode == "RGB" and pixel(image, 0, 0) == WHITE


def test_batch_reports_each_bad_file_and_keeps_the_good_ones(tmp_path: Path):
    good = tmp_path / "good.png"
    good.write_bytes(encode(Image.new("RGB", (32, 32), RED), "PNG"))
    (tmp_path / "empty.jpg").write_bytes(b"")
    (tmp_path / "text.jpg").write_text("hello")
    sources = [good, tmp_path / "empty.jpg", tmp_path / "text.jpg", good]
    batch = load_images(sources)
    assert [item.ok for item in batch.items] == [True, False, False, True]
    assert [name for name, _ in batch.images] == [str(good), str(good)]
    messages = dict(batch.errors)
    assert "empty" in messages[str(tmp_path / "empty.jpg")]
    assert "text file" in messages[str(tmp_path / "text.jpg")]
