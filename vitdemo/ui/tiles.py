"""Image tiles: one explanation map over the image, with its name, its sentence and its scores."""

from __future__ import annotations

import numpy as np
import streamlit as st

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
) -> None:
    """Draw one tile: title (with the method's sentence as help), overlay, scores; or why it is missing."""
    st.markdown(f"**{method_title(name)}**", help=method_sentence(name) or None)
    if name in result.maps:
        st.image(overlay_image(result, name), width="stretch")
        line = score_line(faithful, on_mask)
        if line:
            st.caption(line, help=FAITHFULNESS_HELP + (" " + MASK_SCORE_HELP if on_mask else ""))
        return
    st.image(dimmed(result.view), width="stretch")
    st.caption(result.unavailable.get(name, "Not computed for this model."))
