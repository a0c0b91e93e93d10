"""The procedural Shapes dataset: one labelled shape on a cluttered background, with its mask.

Deterministic: `render_shape(seed, index)` always draws the same image, so splits are seed ranges
and nothing needs downloading. The masks are ground truth for checking where a model looks.

Hand-written (OpenCV drawing) because no maintained library renders labelled shapes with masks
on controllable clutter; torchvision/timm only ship loaders for downloaded datasets.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np

SHAPE_CLASSES = ["circle", "square", "triangle", "star", "hexagon", "cross"]
IMAGE_SIZE = 224
# Seeds that define the splits: the same index under another seed is an unrelated image.
SPLIT_SEEDS = {"train": 0, "val": 1, "test": 2}


@dataclass(frozen=True)
class ShapeSample:
    """One rendered example."""

    image: np.ndarray  # uint8 (H, W, 3) RGB
    label: int  # index into SHAPE_CLASSES
    mask: np.ndarray  # bool (H, W): True on the labelled object

    @property
    def class_name(self) -> str:
        return SHAPE_CLASSES[self.label]


def shape_outline(label: int, rng: np.random.Generator) -> np.ndarray:
    """Unit-radius outline of a class as (N, 2) points around the origin; circles get many points."""
    name = SHAPE_CLASSES[label]
    if name == "circle":
        t = np.linspace(0, 2 * np.pi, 96, endpoint=False)
        return np.stack([np.cos(t), np.sin(t)], 1)
    if name == "square":
        return np.array([[-1, -1], [1, -1], [1, 1], [-1, 1]], float) / math.sqrt(2)
    if name == "triangle":
        t = np.pi / 2 + np.arange(3) * 2 * np.pi / 3
        return np.stack([np.cos(t), -np.sin(t)], 1)
    if name == "hexagon":
        t = np.arange(6) * np.pi / 3
        return np.stack([np.cos(t), np.sin(t)], 1)
    if name == "star":
        inner = rng.uniform(0.38, 0.5)
        t = -np.pi / 2 + np.arange(10) * np.pi / 5
        r = np.where(np.arange(10) % 2 == 0, 1.0, inner)
        return np.stack([r * np.cos(t), r * np.sin(t)], 1)
    # cross: a plus sign with arms of half-width w
    w = rng.uniform(0.22, 0.34)
    pts = [
        (w, -1),
        (w, -w),
        (1, -w),
        (1, w),
        (w, w),
        (w, 1),
        (-w, 1),
        (-w, w),
        (-1, w),
        (-1, -w),
        (-w, -w),
        (-w, -1),
    ]
    return np.array(pts, float)


def _vivid_colour(rng: np.random.Generator) -> np.ndarray:
    hsv = np.uint8([[[rng.integers(0, 180), rng.integers(120, 256), rng.integers(90, 256)]]])
    return cv2.cvtColor(hsv, cv2.COLOR_HSV2RGB)[0, 0].astype(np.float32)


def _background(rng: np.random.Generator, size: int, clutter: float) -> np.ndarray:
    """A float32 (size, size, 3) background: flat, gradient, smooth noise, stripes or checks."""
    kind = rng.choice(["flat", "gradient", "noise", "stripes", "checks"], p=_background_probs(clutter))
    c1, c2 = rng.uniform(0, 255, 3), rng.uniform(0, 255, 3)
    if kind == "flat":
        if rng.random() < 0.3:  # paper-white, like a drawing someone made by hand
            c1 = rng.uniform(235, 255, 3)
        return np.broadcast_to(c1, (size, size, 3)).astype(np.float32).copy()
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32) / size
    if kind == "gradient":
        a = rng.uniform(0, 2 * np.pi)
        t = (np.cos(a) * xx + np.sin(a) * yy)[..., None]
        t = (t - t.min()) / (np.ptp(t) + 1e-6)
    elif kind == "noise":
        cells = rng.integers(3, 9)
        low = rng.uniform(0, 1, (cells, cells)).astype(np.float32)
        t = cv2.resize(low, (size, size), interpolation=cv2.INTER_CUBIC)[..., None].clip(0, 1)
    elif kind == "stripes":
        a, period = rng.uniform(0, np.pi), rng.uniform(8, 40)
        t = (0.5 + 0.5 * np.sin(2 * np.pi * (np.cos(a) * xx + np.sin(a) * yy) * size / period))[..., None]
    else:
        period = rng.integers(10, 40)
        t = (((xx * size // period) + (yy * size // period)) % 2)[..., None]
    # Low-contrast textures keep the labelled object the most salient thing in the image.
    strength = rng.uniform(0.2, 0.6)
    return (c1 * (1 - strength * t) + c2 * strength * t).astype(np.float32)


def _background_probs(clutter: float) -> list[float]:
    flat = 0.5 - 0.35 * clutter  # plain backgrounds stay common so plain drawings are in-distribution
    rest = (1 - flat) / 4
    return [flat, rest, rest, rest, rest]


def _distractors(canvas: np.ndarray, rng: np.random.Generator, clutter: float) -> None:
    """Thin curves, arcs, short lines and dots: clutter that is none of the six shapes."""
    size = canvas.shape[0]
    for _ in range(rng.poisson(6 * clutter)):
        colour = tuple(float(v) for v in rng.uniform(0, 255, 3))
        thickness = int(rng.integers(1, 4))
        kind = rng.integers(0, 4)
        if kind == 0:  # smooth random curve
            pts = np.cumsum(rng.normal(0, size / 12, (8, 2)), 0) + rng.uniform(0, size, 2)
            cv2.polylines(canvas, [pts.astype(np.int32)], False, colour, thickness, cv2.LINE_AA)
        elif kind == 1:  # open arc (never a full ring, so never a circle)
            centre = tuple(int(v) for v in rng.uniform(0, size, 2))
            axes = tuple(int(v) for v in rng.uniform(8, size / 4, 2))
            start = float(rng.uniform(0, 360))
            cv2.ellipse(
                canvas, centre, axes, 0, start, start + rng.uniform(40, 200), colour, thickness, cv2.LINE_AA
            )
        elif kind == 2:  # one short line
            p = rng.uniform(0, size, 2)
            q = p + rng.normal(0, size / 6, 2)
            cv2.line(canvas, tuple(p.astype(int)), tuple(q.astype(int)), colour, thickness, cv2.LINE_AA)
        else:  # small dots
            for _ in range(int(rng.integers(3, 12))):
                c = tuple(int(v) for v in rng.uniform(0, size, 2))
                cv2.circle(canvas, c, int(rng.integers(1, 4)), colour, -1, cv2.LINE_AA)


def _contrasting_fill(background: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A vivid colour far enough from the background under the shape to be seen."""
    best, best_dist = None, -1.0
    for _ in range(12):
        colour = _vivid_colour(rng)
        dist = float(np.abs(background - colour).sum(-1).mean())
        if dist > 150:
            return colour
        if dist > best_dist:
            best, best_dist = colour, dist
    return best


def render_shape(
    seed: int,
    index: int,
    *,
    size: int = IMAGE_SIZE,
    clutter: float = 1.0,
    scale_range: tuple[float, float] = (0.15, 0.6),
    label: int | None = None,
) -> ShapeSample:
    """Render example `index` of the dataset with `seed` (deterministic).

    Args:
        seed: dataset seed; SPLIT_SEEDS maps split names to seeds.
        index: example number; the class is `index % 6` unless `label` is given, so any run of six
            consecutive indices is balanced.
        size: side of the square image in pixels.
        clutter: 0 = mostly plain backgrounds and no distractors, 1 = the full dataset.
        scale_range: object size as a fraction of the image side (its bounding-circle diameter).
        label: force a class (used by the gallery); None for the dataset's own choice.
    """
    rng = np.random.default_rng([seed, index])
    label = index % len(SHAPE_CLASSES) if label is None else label
    canvas = _background(rng, size, clutter)
    _distractors(canvas, rng, clutter)

    radius = rng.uniform(*scale_range) * size / 2
    centre = rng.uniform(radius, size - radius, 2)  # anywhere, edges included, never clipped
    angle = rng.uniform(0, 2 * np.pi)
    rot = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    pts = (shape_outline(label, rng) @ rot.T) * radius + centre  # (N, 2) pixel coords

    mask_u8 = np.zeros((size, size), np.uint8)
    cv2.fillPoly(mask_u8, [np.round(pts).astype(np.int32)], 1)
    fill = _contrasting_fill(canvas[mask_u8.astype(bool)], rng)
    shape_layer = canvas.copy()
    cv2.fillPoly(
        shape_layer, [np.round(pts * 16).astype(np.int32)], tuple(float(v) for v in fill), cv2.LINE_AA, 4
    )
    if rng.random() < 0.5:  # an outline in another colour
        outline = tuple(float(v) for v in _vivid_colour(rng))
        thickness = int(rng.integers(1, max(2, int(radius / 8))))
        cv2.polylines(
            shape_layer, [np.round(pts * 16).astype(np.int32)], True, outline, thickness, cv2.LINE_AA, 4
        )
    canvas = shape_layer
    noise_sigma = rng.uniform(0, 10 * clutter)
    if noise_sigma > 0.5:
        canvas = canvas + rng.normal(0, noise_sigma, canvas.shape).astype(np.float32)
    image = np.clip(canvas, 0, 255).astype(np.uint8)
    return ShapeSample(image=image, label=int(label), mask=mask_u8.astype(bool))


def render_batch(seed: int, start: int, count: int, **kwargs) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Render `count` consecutive examples: images (N, H, W, 3) uint8, labels (N,), masks (N, H, W) bool."""
    samples = [render_shape(seed, start + i, **kwargs) for i in range(count)]
    return (
        np.stack([s.image for s in samples]),
        np.array([s.label for s in samples], np.int64),
        np.stack([s.mask for s in samples]),
    )
