"""Shapes "drawn by someone else": PIL drawings on white paper, independent of the generator.

The demo models are trained on `vitdemo.data.shapes` (OpenCV, cluttered). A model that only
learned that generator's habits would fail here: different rasteriser, plain white background,
flat colours, slightly wobbly hand-drawn vertices, any size. Used to check generalisation.
"""

from __future__ import annotations

import math

import numpy as np
from PIL import Image, ImageDraw

from vitdemo.data.shapes import SHAPE_CLASSES

_COLOURS = [(220, 40, 40), (30, 90, 200), (20, 140, 60), (240, 170, 0), (120, 50, 160), (20, 20, 20)]


def _outlines(name: str, cx: float, cy: float, r: float, angle: float) -> list[list[tuple[float, float]]]:
    """The polygons that make up `name` (the cross is two bars, as a hand would draw it)."""

    def ring(n: int, radius: float, phase: float) -> list[tuple[float, float]]:
        return [
            (
                cx + radius * math.cos(phase + angle + 2 * math.pi * k / n),
                cy + radius * math.sin(phase + angle + 2 * math.pi * k / n),
            )
            for k in range(n)
        ]

    if name == "square":
        return [ring(4, r, math.pi / 4)]
    if name == "triangle":
        return [ring(3, r, -math.pi / 2)]
    if name == "hexagon":
        return [ring(6, r, 0)]
    if name == "star":
        outer, inner = ring(5, r, -math.pi / 2), ring(5, r * 0.42, -math.pi / 2 + math.pi / 5)
        return [[p for pair in zip(outer, inner, strict=True) for p in pair]]
    # cross: a horizontal and a vertical bar, each 2r long and 0.6r thick, turned together
    c, s = math.cos(angle), math.sin(angle)
    bars = []
    for half_w, half_h in ((1.0, 0.3), (0.3, 1.0)):
        corners = [(-half_w, -half_h), (half_w, -half_h), (half_w, half_h), (-half_w, half_h)]
        bars.append([(cx + r * (x * c - y * s), cy + r * (x * s + y * c)) for x, y in corners])
    return bars


def draw_shape(name: str, variant: int, size: int = 224) -> tuple[Image.Image, np.ndarray]:
    """A plain drawing of `name`; `variant` picks size, place, colour and wobble deterministically.

    Returns the RGB image and its boolean mask.
    """
    rng = np.random.default_rng([SHAPE_CLASSES.index(name), variant, 7])
    r = rng.uniform(0.2, 0.42) * size
    cx, cy = rng.uniform(r, size - r, 2)
    colour = _COLOURS[(variant + 2 * SHAPE_CLASSES.index(name)) % len(_COLOURS)]
    img = Image.new("RGB", (size, size), (255, 255, 255))
    mask = Image.new("L", (size, size), 0)
    if name == "circle":
        box = [cx - r, cy - r, cx + r, cy + r]
        ImageDraw.Draw(img).ellipse(box, fill=colour)
        ImageDraw.Draw(mask).ellipse(box, fill=255)
    else:
        for pts in _outlines(name, cx, cy, r, rng.uniform(-0.3, 0.3)):
            pts = [
                (x + rng.normal(0, r * 0.02), y + rng.normal(0, r * 0.02)) for x, y in pts
            ]  # a hand's wobble
            ImageDraw.Draw(img).polygon(pts, fill=colour)
            ImageDraw.Draw(mask).polygon(pts, fill=255)
    return img, np.asarray(mask) > 0


def drawn_set(per_class: int = 2) -> list[tuple[str, Image.Image, np.ndarray]]:
    """`per_class` drawings of every class: (class name, image, mask)."""
    return [(name, *draw_shape(name, v)) for name in SHAPE_CLASSES for v in range(per_class)]
