"""Image tiles: one explanation map over the image, with its name, its sentence and its scores.

Every tile image is blended and JPEG-encoded once per (explanation, map) and the bytes reused by
every session and rerun that shows it: `st.image` of an array would re-encode it on each run, which
for a class of twenty is most of the server's time after the forward passes. `show_tile` names the
format to `st.image`: given bytes and its default `output_format="auto"`, Streamlit decodes them
and re-encodes every opaque image as JPEG (quality 90) on every run, PNG included. The store follows
the cached explanations' lifetime (an entry goes when its result is freed), so it is as bounded as
they are.
"""

from __future__ import annotations

import io
import threading
import weakref

import numpy as np
import streamlit as st
from PIL import Image

from vitdemo.explain.overlay import overlay
from vitdemo.explain.result import ExplainResult
from vitdemo.ui.texts import FAITHFULNESS_HELP, MASK_SCORE_HELP, method_sentence, method_title

OVERLAY_ALPHA = 0.5
OVERLAY_COLORMAP = "jet"  # the seeds' colormap: what students have seen in papers and notebooks


def overlay_image(result: ExplainResult, name: str, alpha: float = OVERLAY_ALPHA) -> np.ndarray:
    """The map `name` blended over the view the network saw, uint8 (H, W, 3)."""
    return overlay(result.view, result.maps[name], alpha=alpha, colormap=OVERLAY_COLORMAP)


def dimmed(view: np.ndarray) -> np.ndarray:
    """A washed-out grey copy of the view: the placeholder for a map that does not exist."""
    grey = view.astype(np.float32).mean(axis=-1, keepdims=True)
    return (0.35 * grey + 0.65 * 235).repeat(3, axis=-1).astype(np.uint8)


# What Streamlit would send anyway (see above), encoded once: a tenth of a fast PNG's bytes for
# the browser to fetch, and the same look.
TILE_FORMAT, TILE_QUALITY = "JPEG", 90
_ENCODED: dict[int, dict[str, bytes]] = {}  # id(result) → tile name → JPEG bytes
_ENCODED_LOCK = threading.Lock()
VIEW_TILE, DIMMED_TILE = ":view", ":dimmed"  # tile names that are not map names


def tile_bytes(result: ExplainResult, tile: str) -> bytes:
    """JPEG bytes of one tile of `result`: a map name (its overlay), `VIEW_TILE` or `DIMMED_TILE`.

    Encoded on first use and kept as long as `result` lives (results are shared and read-only).
    """
    key = id(result)
    with _ENCODED_LOCK:
        cached = _ENCODED.get(key, {}).get(tile)
    if cached is not None:
        return cached
    if tile == VIEW_TILE:
        pixels = result.view
    elif tile == DIMMED_TILE:
        pixels = dimmed(result.view)
    else:
        pixels = overlay_image(result, tile)
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format=TILE_FORMAT, quality=TILE_QUALITY)
    data = buffer.getvalue()
    with _ENCODED_LOCK:
        if key not in _ENCODED:
            _ENCODED[key] = {}
            # ids are reused after a free: drop the entry with the result, before that can happen.
            weakref.finalize(result, _forget, key)
        _ENCODED[key][tile] = data
    return data


def show_tile(result: ExplainResult, tile: str) -> None:
    """`st.image` of one tile's cached bytes, passed through as they are (no decode, no re-encode)."""
    st.image(tile_bytes(result, tile), width="stretch", output_format=TILE_FORMAT)


def _forget(key: int) -> None:
    with _ENCODED_LOCK:
        _ENCODED.pop(key, None)


def _short(value: float) -> str:
    """Two decimals, or two significant digits for the tiny areas of a model that is unsure of everything."""
    return f"{value:.2f}" if value >= 0.01 or value == 0 else f"{value:.1g}"


def score_line(faithful: dict[str, float] | None, on_mask: dict[str, float] | None) -> str:
    """The one-line score caption under a tile, e.g. "deletion 0.12 ↓ · insertion 0.71 ↑"."""
    parts = []
    if faithful:
        deletion, insertion = faithful["deletion_auc"], faithful["insertion_auc"]
        parts.append(f"deletion {_short(deletion)} ↓ · insertion {_short(insertion)} ↑")
    if on_mask:
        peak = "peak on the shape" if on_mask["pointing_game"] >= 0.5 else "peak off the shape"
        parts.append(f"{on_mask['energy_in_mask']:.0%} on the shape · {peak}")
    return "  \n".join(parts)


def map_tile(
    result: ExplainResult,
    name: str,
    *,
    faithful: dict[str, float] | None = None,
    on_mask: dict[str, float] | None = None,
):
    """Draw one tile: title (with the method's sentence as help), overlay, scores; or why it is missing.

    Returns the `st.empty()` slot of the score line, so scores computed later can fill it in; None
    for a map that does not exist.
    """
    st.markdown(f"**{method_title(name)}**", help=method_sentence(name) or None)
    if name in result.maps:
        show_tile(result, name)
        slot = st.empty()
        show_scores(slot, faithful, on_mask)
        return slot
    show_tile(result, DIMMED_TILE)
    st.caption(result.unavailable.get(name, "Not computed for this model."))
    return None


def show_scores(slot, faithful: dict[str, float] | None, on_mask: dict[str, float] | None) -> None:
    """Write (or rewrite) the score caption into `slot`, an `st.empty()`; nothing when there are no scores."""
    line = score_line(faithful, on_mask)
    if line:
        slot.caption(line, help=FAITHFULNESS_HELP + (" " + MASK_SCORE_HELP if on_mask else ""))
