"""Plotly figures for "Inside the ViT" and the sanity checks: per-head scatters, first-layer filters,
the logit lens, token norms and the cascading-randomisation curves.

Each builder takes plain arrays / analysis results and returns a `go.Figure` (no Streamlit), so a
notebook can use them too.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from vitdemo.explain.analyses import FAIL_CORRELATION, FirstLayerFilters, SanityCheck, TokenNorms
from vitdemo.ui.figures import ACCENT, HEATMAP_SCALE, MUTED
from vitdemo.ui.texts import short_label

MAX_LENS_CLASSES = 8
FILTER_TILE_PX = 48  # each filter drawn this big (nearest-neighbour), so a 7×7 or 16×16 kernel is legible
LINE_COLOURS = (
    "#2563eb",
    "#dc2626",
    "#16a34a",
    "#9333ea",
    "#ea580c",
    "#0891b2",
    "#ca8a04",
    "#db2777",
    "#475569",
)


def per_head_figure(
    values: np.ndarray,
    *,
    y_title: str,
    reference: float,
    reference_label: str,
    unit: str = "",
) -> go.Figure:
    """One dot per head, depth on x (the ViT paper's Fig. 7 right), a dashed line for a reference value.

    Args:
        values: (layers, heads).
        y_title: the y axis title.
        reference: e.g. the distance or entropy of uniform attention.
        reference_label: what the dashed line means.
        unit: appended to hover values ("px", "nats").
    """
    layers, heads = values.shape
    depth = np.repeat(np.arange(1, layers + 1), heads)
    head = np.tile(np.arange(1, heads + 1), layers)
    jitter = (head - (heads + 1) / 2) / max(heads, 1) * 0.3  # heads side by side within a layer
    fig = go.Figure(
        go.Scatter(
            x=depth + jitter,
            y=values.ravel(),
            mode="markers",
            marker=dict(size=8, color=ACCENT, opacity=0.75, line=dict(width=0.5, color="white")),
            customdata=np.stack([depth, head], axis=-1),
            hovertemplate=f"layer %{{customdata[0]}}, head %{{customdata[1]}}: %{{y:.2f}} {unit}<extra></extra>",
        )
    )
    fig.add_hline(
        y=reference,
        line=dict(dash="dash", color=MUTED),
        annotation_text=reference_label,
        annotation_position="top left",
    )
    fig.update_layout(
        height=320,
        margin=dict(l=8, r=8, t=24, b=8),
        xaxis=dict(title="Network depth (layer)", tickmode="linear", dtick=1 if layers <= 24 else 4),
        yaxis=dict(title=y_title, rangemode="tozero"),
        showlegend=False,
    )
    return fig


def filter_mosaic(
    tiles: np.ndarray, columns: int = 7, tile_px: int = FILTER_TILE_PX, gap: int = 4
) -> np.ndarray:
    """(count, kh, kw, 3) filters in [0, 1] → one uint8 RGB image, nearest-neighbour enlarged, white gaps."""
    count = tiles.shape[0]
    rows = -(-count // columns)
    scale = max(1, tile_px // max(tiles.shape[1:3]))
    enlarged = tiles.repeat(scale, axis=1).repeat(scale, axis=2)  # (count, h, w, 3)
    h, w = enlarged.shape[1:3]
    out = np.full((rows * (h + gap) - gap, columns * (w + gap) - gap, 3), 255, np.uint8)
    for i, tile in enumerate(enlarged):
        r, c = divmod(i, columns)
        out[r * (h + gap) : r * (h + gap) + h, c * (w + gap) : c * (w + gap) + w] = np.uint8(tile * 255 + 0.5)
    return out


def filters_figure(filters: FirstLayerFilters, columns: int = 7) -> go.Figure:
    """The first-layer patterns as an image grid, labelled with what they are."""
    mosaic = filter_mosaic(filters.filters, columns)
    fig = go.Figure(go.Image(z=mosaic, hoverinfo="skip"))
    fig.update_layout(
        height=int(mosaic.shape[0] * 1.0) + 16,
        width=mosaic.shape[1] + 16,
        margin=dict(l=8, r=8, t=8, b=8),
        xaxis=dict(visible=False),
        yaxis=dict(visible=False),
    )
    return fig


def lens_classes(probs: np.ndarray, limit: int = MAX_LENS_CLASSES) -> list[int]:
    """Classes worth a column: the final layer's best, then any class that leads some earlier layer."""
    final = list(np.argsort(-probs[-1]))
    leaders = [int(i) for i in dict.fromkeys(probs.argmax(axis=1)[::-1].tolist())]
    chosen = list(dict.fromkeys([int(final[0]), *leaders, *map(int, final)]))
    return chosen[: min(limit, probs.shape[1])]


def logit_lens_figure(probs: np.ndarray, labels: Sequence[str]) -> go.Figure:
    """Layer × top classes: the probability each layer's tokens give each class through the final head.

    Args:
        probs: (layers, num_classes) softmax of the logit lens.
        labels: class names.
    """
    classes = lens_classes(probs)
    grid = probs[:, classes]  # (layers, k)
    names = [short_label(labels[i], limit=22) for i in classes]
    layers = [f"layer {i}" for i in range(1, probs.shape[0] + 1)]
    fig = go.Figure(
        go.Heatmap(
            z=grid,
            x=names,
            y=layers,
            zmin=0,
            zmax=1,
            colorscale=HEATMAP_SCALE,
            text=[[f"{p:.0%}" for p in row] for row in grid],
            texttemplate="%{text}",
            hovertemplate="%{y}: %{x} %{z:.1%}<extra></extra>",
            colorbar=dict(title="prob.", tickformat=".0%"),
        )
    )
    fig.update_layout(
        height=110 + 26 * len(layers),
        margin=dict(l=70, r=8, t=60, b=8),
        yaxis=dict(autorange="reversed", fixedrange=True, automargin=True),
        xaxis=dict(side="top", fixedrange=True, automargin=True, tickangle=-30),
    )
    return fig


def token_norm_map_figure(norm_map: np.ndarray, *, zmax: float | None = None) -> go.Figure:
    """One layer's patch-token norms on the patch grid (hover shows row, column and norm)."""
    rows, cols = norm_map.shape
    fig = go.Figure(
        go.Heatmap(
            z=norm_map,
            x=list(range(1, cols + 1)),
            y=list(range(1, rows + 1)),
            zmin=0,
            zmax=zmax,
            colorscale=HEATMAP_SCALE,
            hovertemplate="row %{y}, column %{x}: norm %{z:.1f}<extra></extra>",
            colorbar=dict(title="norm"),
        )
    )
    fig.update_layout(
        height=340,
        margin=dict(l=8, r=8, t=8, b=8),
        yaxis=dict(autorange="reversed", scaleanchor="x", constrain="domain", fixedrange=True),
        xaxis=dict(constrain="domain", fixedrange=True),
    )
    return fig


def token_norm_profile_figure(norms: TokenNorms, prefix_names: Sequence[str]) -> go.Figure:
    """Per layer: median and largest patch-token norm, and each prefix token's norm."""
    patches = norms.patches.flatten(1).numpy()  # (layers, patches)
    layers = np.arange(1, patches.shape[0] + 1)
    fig = go.Figure()
    fig.add_scatter(x=layers, y=np.median(patches, axis=1), name="median patch", line=dict(color=MUTED))
    fig.add_scatter(x=layers, y=patches.max(axis=1), name="largest patch", line=dict(color=ACCENT))
    for i, name in enumerate(prefix_names):
        fig.add_scatter(
            x=layers, y=norms.prefix[:, i].numpy(), name=name, line=dict(dash="dot", color=_colour(i + 2))
        )
    fig.update_layout(
        height=320,
        margin=dict(l=8, r=8, t=8, b=8),
        xaxis=dict(title="layer", tickmode="linear", dtick=1 if len(layers) <= 24 else 4),
        yaxis=dict(title="token norm", rangemode="tozero"),
        legend=dict(orientation="h", y=-0.25),
    )
    return fig


def sanity_check_figure(check: SanityCheck, titles: Mapping[str, str]) -> go.Figure:
    """Spearman and SSIM of each method's map with the trained one, per cumulative randomisation step."""
    # Stacked, not side by side: the figure lives in one model's column of the Grad-CAM page.
    fig = make_subplots(
        rows=2,
        cols=1,
        shared_xaxes=True,
        vertical_spacing=0.08,
        subplot_titles=("Spearman rank correlation", "SSIM"),
    )
    for i, name in enumerate(check.spearman):
        colour = _colour(i)
        for row, series in ((1, check.spearman[name]), (2, check.ssim[name])):
            fig.add_scatter(
                x=check.steps,
                y=series,
                name=titles.get(name, name),
                legendgroup=name,
                showlegend=row == 1,
                mode="lines+markers",
                line=dict(color=colour),
                row=row,
                col=1,
            )
    fig.add_hline(y=FAIL_CORRELATION, line=dict(dash="dash", color=MUTED), row=1, col=1)
    fig.update_yaxes(range=[-1.05, 1.05])
    fig.update_xaxes(tickangle=-45)
    fig.update_xaxes(title_text="randomised down to", row=2, col=1)
    fig.update_layout(height=620, margin=dict(l=8, r=8, t=32, b=8), legend=dict(orientation="h", y=-0.3))
    return fig


def _colour(index: int) -> str:
    return LINE_COLOURS[index % len(LINE_COLOURS)]
