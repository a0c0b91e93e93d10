"""Plotly figures for the app: top-k bars, the layer × head attention grid, position similarity.

Each builder takes plain arrays / result objects and returns a `go.Figure`; nothing here talks to
Streamlit, so figures can also be built in a notebook or a test.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import plotly.graph_objects as go

from vitdemo.models.prediction import ClassScore
from vitdemo.ui.texts import short_label

ACCENT = "#2563eb"  # matches theme.primaryColor in .streamlit/config.toml
MUTED = "#94a3b8"
HEATMAP_SCALE = "Viridis"  # perceptually uniform, colour-blind safe, readable on a projector


def top_k_bar_chart(top_k: Sequence[ClassScore], *, target_index: int | None = None) -> go.Figure:
    """Horizontal bars of the top-k probabilities, best at the top, the explained class highlighted.

    Args:
        top_k: classes best first, as in `ExplainResult.top_k`.
        target_index: class index the maps explain; its bar is drawn in the accent colour.
    """
    rows = list(reversed(top_k))  # plotly draws the first bar at the bottom
    explained = rows[-1].index if target_index is None else target_index
    colours = [ACCENT if s.index == explained else MUTED for s in rows]
    fig = go.Figure(
        go.Bar(
            x=[s.prob for s in rows],
            y=[short_label(s.label) for s in rows],
            orientation="h",
            marker_color=colours,
            text=[f"{s.prob:.1%}" for s in rows],
            textposition="outside",
            cliponaxis=False,
            customdata=[s.label for s in rows],
            hovertemplate="%{customdata}: %{x:.2%}<extra></extra>",
        )
    )
    fig.update_layout(
        height=40 + 34 * len(rows),
        margin=dict(l=8, r=48, t=8, b=8),
        xaxis=dict(range=[0, 1], tickformat=".0%", showgrid=True, fixedrange=True),
        yaxis=dict(fixedrange=True, automargin=True),
        showlegend=False,
        bargap=0.35,
    )
    return fig


def accuracy_bar_chart(accuracy: dict[str, float], n_images: int) -> go.Figure:
    """Horizontal bars: each model's top-1 accuracy, labelled in percent, on `n_images` images."""
    specs = list(accuracy)
    fig = go.Figure(
        go.Bar(
            x=[accuracy[s] for s in specs],
            y=specs,
            orientation="h",
            marker_color=ACCENT,
            text=[f"{accuracy[s]:.0%}" for s in specs],
            textposition="outside",
            cliponaxis=False,
        )
    )
    fig.update_layout(
        height=60 + 40 * len(specs),
        margin=dict(l=8, r=48, t=8, b=8),
        xaxis=dict(
            range=[0, 1],
            tickformat=".0%",
            title=f"top-1 correct on {n_images} Shapes image{'s' if n_images != 1 else ''}",
        ),
        yaxis=dict(autorange="reversed", automargin=True),
    )
    return fig


def tile_mosaic(tiles: np.ndarray, gap: int = 1) -> np.ndarray:
    """Lay a (rows, cols, h, w) stack of 2-D tiles out as one image with NaN gaps between tiles.

    NaN cells render transparent in a plotly heatmap, so the gaps read as a grid.
    """
    rows, cols, h, w = tiles.shape
    out = np.full((rows * (h + gap) - gap, cols * (w + gap) - gap), np.nan, dtype=np.float32)
    for r in range(rows):
        for c in range(cols):
            out[r * (h + gap) : r * (h + gap) + h, c * (w + gap) : c * (w + gap) + w] = tiles[r, c]
    return out


def _scale_each_tile(tiles: np.ndarray) -> np.ndarray:
    """Min-max normalise every (h, w) tile on its own, so faint heads show their pattern too."""
    lo = tiles.min(axis=(-2, -1), keepdims=True)
    hi = tiles.max(axis=(-2, -1), keepdims=True)
    return (tiles - lo) / np.maximum(hi - lo, 1e-12)


def _cell_px(
    rows: int, cols: int, h: int, w: int, max_width: int, max_height: int, max_cell: int = 28
) -> float:
    """Pixels per map cell so the whole mosaic fits `max_width` × `max_height`."""
    return float(min(max_cell, max_width / (cols * (w + 1)), max_height / (rows * (h + 1))))


def _mosaic_layout(
    fig: go.Figure,
    tile_shape: tuple[int, int],
    px: float,
    margin: dict,
    row_labels: Sequence[str],
    col_labels: Sequence[str],
    **axis_extras: dict,
) -> None:
    """Size, ticks and square cells for a `tile_mosaic` heatmap (one tick label per tile row/column).

    `axis_extras` holds `xaxis`/`yaxis` additions (titles, tick side).
    """
    gh, gw = tile_shape
    rows, cols = len(row_labels), len(col_labels)
    axis = dict(showgrid=False, zeroline=False, constrain="domain")
    fig.update_layout(
        # An explicit size (drawn with width="content"): the colour bar stays next to the tiles.
        width=int(cols * (gw + 1) * px) + margin["l"] + margin["r"] + 90,
        height=int(rows * (gh + 1) * px) + margin["t"] + margin["b"],
        margin=margin,
        xaxis=dict(
            tickvals=[c * (gw + 1) + (gw - 1) / 2 for c in range(cols)],
            ticktext=list(col_labels),
            **axis,
            **axis_extras.get("xaxis", {}),
        ),
        yaxis=dict(
            tickvals=[r * (gh + 1) + (gh - 1) / 2 for r in range(rows)],
            ticktext=list(row_labels),
            autorange="reversed",
            scaleanchor="x",
            **axis,
            **axis_extras.get("yaxis", {}),
        ),
        plot_bgcolor="white",
    )


def attention_grid_figure(
    tiles: np.ndarray,
    *,
    scaled: bool = True,
    selected: tuple[int, int] | None = None,
    max_width: int = 900,
    max_height: int = 860,
) -> go.Figure:
    """All layers × heads of one query token's attention over the patch grid, as one heatmap.

    Args:
        tiles: float (layers, heads, grid_rows, grid_cols): attention of the query token to each patch.
        scaled: colour each tile on its own range (True) or all tiles on one shared range (False).
        selected: (layer, head), 0-based, to outline; None for no outline.
        max_width: the most pixels the tiles may take across; they shrink for big models.
        max_height: the most pixels the tiles may take down.
    """
    layers, heads, gh, gw = tiles.shape
    shown = _scale_each_tile(tiles) if scaled else tiles
    z = tile_mosaic(shown)
    raw = tile_mosaic(tiles)
    # Hover names the layer, head and patch of every cell, with the raw attention value.
    yy, xx = np.mgrid[0 : z.shape[0], 0 : z.shape[1]]
    layer_of, head_of = yy // (gh + 1) + 1, xx // (gw + 1) + 1
    row_of, col_of = yy % (gh + 1) + 1, xx % (gw + 1) + 1
    custom = np.stack([layer_of, head_of, row_of, col_of, np.nan_to_num(raw)], axis=-1)
    fig = go.Figure(
        go.Heatmap(
            z=z,
            customdata=custom,
            colorscale=HEATMAP_SCALE,
            zmin=0.0,
            zmax=1.0 if scaled else float(np.nanmax(raw)),
            hoverongaps=False,
            hovertemplate=(
                "layer %{customdata[0]}, head %{customdata[1]}<br>"
                "patch row %{customdata[2]}, col %{customdata[3]}<br>"
                "attention %{customdata[4]:.4f}<extra></extra>"
            ),
            colorbar=dict(title=dict(text="scaled" if scaled else "attention", side="right"), thickness=12),
        )
    )
    _mosaic_layout(
        fig,
        (gh, gw),
        _cell_px(layers, heads, gh, gw, max_width, max_height),
        dict(l=70, r=10, t=40, b=10),
        row_labels=[f"layer {layer + 1}" for layer in range(layers)],
        col_labels=[f"head {h + 1}" for h in range(heads)],
        xaxis={"side": "top"},
    )
    if selected is not None:
        layer, head = selected
        fig.add_shape(
            type="rect",
            x0=head * (gw + 1) - 0.8,
            x1=head * (gw + 1) + gw - 0.2,
            y0=layer * (gh + 1) - 0.8,
            y1=layer * (gh + 1) + gh - 0.2,
            line=dict(color="#22d3ee", width=3),
        )
    return fig


def position_similarity_figure(similarity: np.ndarray, *, max_width: int = 640) -> go.Figure:
    """The ViT paper's position-embedding plot: one tile per patch, its similarity to all others.

    Args:
        similarity: float (grid_rows, grid_cols, grid_rows, grid_cols) cosine similarities; tile
            [r, c] holds the similarity of position (r, c) to every position.
        max_width: target width in pixels.
    """
    gh, gw = similarity.shape[:2]
    z = tile_mosaic(similarity)
    px = _cell_px(gh, gw, gh, gw, max_width, max_width, max_cell=20)
    fig = go.Figure(
        go.Heatmap(
            z=z,
            colorscale="RdBu_r",
            zmin=-1.0,
            zmax=1.0,
            hoverongaps=False,
            hovertemplate="cosine similarity %{z:.2f}<extra></extra>",
            colorbar=dict(title=dict(text="cosine", side="right"), thickness=12),
        )
    )
    _mosaic_layout(
        fig,
        (gh, gw),
        px,
        dict(l=60, r=10, t=30, b=50),
        row_labels=[str(r + 1) for r in range(gh)],
        col_labels=[str(c + 1) for c in range(gw)],
        xaxis={"title": "patch column"},
        yaxis={"title": "patch row"},
    )
    return fig


def query_picker_figure(
    view: np.ndarray,
    grid_size: tuple[int, int],
    *,
    selected: tuple[int, int] | None = None,
    height: int = 320,
) -> go.Figure:
    """The view with its patch grid; every patch centre is a clickable point (selection event).

    Args:
        view: uint8 (H, W, 3) image as the network saw it.
        grid_size: (rows, cols) of patches.
        selected: (row, col) of the query patch to outline, 0-based; None for no outline.
        height: figure height in pixels.
    """
    img_h, img_w = view.shape[:2]
    rows, cols = grid_size
    cell_h, cell_w = img_h / rows, img_w / cols
    rr, cc = np.mgrid[0:rows, 0:cols]
    fig = go.Figure(go.Image(z=view, hoverinfo="skip"))
    fig.add_trace(
        go.Scatter(
            x=((cc + 0.5) * cell_w).ravel(),
            y=((rr + 0.5) * cell_h).ravel(),
            mode="markers",
            # Nearly invisible, but big enough that a click anywhere in a patch hits its point.
            marker=dict(
                size=max(6, min(40, height / rows * 0.9)), color="white", opacity=0.0, symbol="square"
            ),
            customdata=np.stack([rr.ravel() + 1, cc.ravel() + 1], axis=-1),
            hovertemplate="patch row %{customdata[0]}, col %{customdata[1]}<extra>click to query</extra>",
            showlegend=False,
        )
    )
    for r in range(1, rows):
        fig.add_hline(y=r * cell_h, line=dict(color="rgba(255,255,255,0.35)", width=1))
    for c in range(1, cols):
        fig.add_vline(x=c * cell_w, line=dict(color="rgba(255,255,255,0.35)", width=1))
    if selected is not None:
        r, c = selected
        fig.add_shape(
            type="rect",
            x0=c * cell_w,
            x1=(c + 1) * cell_w,
            y0=r * cell_h,
            y1=(r + 1) * cell_h,
            line=dict(color="#22d3ee", width=3),
        )
    fig.update_layout(
        height=height,
        margin=dict(l=0, r=0, t=0, b=0),
        xaxis=dict(visible=False, range=[0, img_w]),
        yaxis=dict(visible=False, range=[img_h, 0], scaleanchor="x"),
        clickmode="event+select",
        dragmode=False,
    )
    return fig
