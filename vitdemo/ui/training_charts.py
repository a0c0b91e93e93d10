"""Plotly figures for fine-tuning runs: live loss curves, epoch metrics, confusion matrix, class counts.

Builders take the plain records of a run directory (`RunDir.read_metrics()`, `results.json`) and
return `go.Figure`s; nothing here talks to Streamlit, so they work in a notebook or a test too.

Live charts cost the same at step 10 and step 10,000: the step curve is cut to at most
`MAX_CURVE_POINTS` points (each bucket's lowest and highest loss kept, so spikes stay visible),
epoch boundaries are one trace (not one layout shape per epoch, which plotly copies the whole
layout to add), and `live_run_figures` builds a run's two figures once per new metrics row for
every tab and session that shows them.
"""

from __future__ import annotations

import math
import threading
from collections import OrderedDict
from collections.abc import Sequence

import numpy as np
import plotly.graph_objects as go
from scipy.signal import lfilter

from vitdemo.ui.figures import ACCENT, MUTED

VAL_COLOUR = "#ea580c"  # validation curves: orange against the blue training curve
BOUNDARY_COLOUR = "#cbd5e1"
MAX_CURVE_POINTS = 500  # more than a chart's width in pixels shows nothing more
MAX_EPOCH_LINES = 50  # epoch boundaries drawn at most (every k-th epoch beyond)
_SMOOTHING = 0.8  # exponential moving average of the step losses, as TensorBoard draws it


def _ema(values: Sequence[float], weight: float = _SMOOTHING) -> np.ndarray:
    """Debiased exponential moving average (early points are not dragged towards zero)."""
    v = np.asarray(values, dtype=np.float64)
    if not len(v):
        return v
    avg = lfilter([1 - weight], [1, -weight], v)  # avg[i] = weight * avg[i-1] + (1 - weight) * v[i]
    return avg / (1 - weight ** np.arange(1, len(v) + 1))


def min_max_indices(y: np.ndarray, max_points: int = MAX_CURVE_POINTS) -> np.ndarray:
    """Indices of at most ~`max_points` points of `y` that keep its shape: per bucket, min and max.

    Handwritten rather than tsdownsample's MinMax (the same idea in Rust): twelve lines of numpy
    take well under a millisecond at 10,000 points, not worth a compiled dependency for the Space.
    The first and last points are always kept, so the curve ends where the run is.
    """
    n = len(y)
    if n <= max_points:
        return np.arange(n)
    buckets = max(1, (max_points - 2) // 2)
    size = -(-n // buckets)
    grid = np.pad(y, (0, size * buckets - n), mode="edge").reshape(buckets, size)  # (buckets, size)
    starts = np.arange(buckets) * size
    picked = np.concatenate([starts + grid.argmin(1), starts + grid.argmax(1), [0, n - 1]])
    return np.unique(np.clip(picked, 0, n - 1))  # sorted, and padding duplicates dropped


def _layout(fig: go.Figure, height: int = 300) -> go.Figure:
    fig.update_layout(
        height=height,
        margin=dict(l=8, r=8, t=36, b=8),
        legend=dict(orientation="h", yanchor="bottom", y=1.0, xanchor="right", x=1.0),
        hovermode="x unified",
    )
    return fig


def step_loss_chart(metrics: Sequence[dict], max_points: int = MAX_CURVE_POINTS) -> go.Figure:
    """Training loss per optimizer step: raw (faint) and smoothed, with epoch boundaries.

    Args:
        metrics: the run's metric records; only `kind == "step"` ones are drawn.
        max_points: the most points drawn per curve (min/max-preserving downsampling beyond).
    """
    steps = [m for m in metrics if m.get("kind") == "step"]
    x = np.array([m["step"] for m in steps])
    y = np.array([m["loss"] for m in steps], dtype=np.float64)
    smoothed = _ema(y)  # on every step, before thinning: the smoothing must not depend on the display
    keep = min_max_indices(y, max_points)
    shown = "loss per step" if len(keep) == len(y) else f"loss per step (min/max of {len(y)} steps)"
    fig = go.Figure()
    fig.add_scatter(x=x[keep], y=y[keep], mode="lines", name=shown, line=dict(color=MUTED, width=1))
    fig.add_scatter(
        x=x[keep], y=smoothed[keep], mode="lines", name="smoothed", line=dict(color=ACCENT, width=2.5)
    )
    ended = {m["epoch"] for m in metrics if m.get("kind") == "epoch"}
    _add_epoch_boundaries(fig, [m["epoch"] for m in steps], x, ended)
    fig.update_layout(title="Training loss", xaxis_title="step", yaxis_title="cross-entropy")
    return _layout(fig)


def _add_epoch_boundaries(fig: go.Figure, epochs: list[int], steps: np.ndarray, ended: set[int]) -> None:
    """One faint trace of vertical lines at the last step of every finished epoch (at most MAX_EPOCH_LINES)."""
    epoch = np.asarray(epochs)
    last = np.flatnonzero(np.append(epoch[1:] != epoch[:-1], True)) if len(epoch) else epoch
    ends = [int(steps[i]) for i in last if int(epoch[i]) in ended]
    ends = ends[:: -(-len(ends) // MAX_EPOCH_LINES)] if ends else ends
    if not ends:
        return
    xs = [v for end in ends for v in (end, end, None)]
    ys = [v for _ in ends for v in (0, 1, None)]
    fig.add_scatter(x=xs, y=ys, yaxis="y2", mode="lines", line=dict(color=BOUNDARY_COLOUR, width=1),
                    name="epoch ends", hoverinfo="skip", showlegend=False)  # fmt: skip
    fig.update_layout(yaxis2=dict(overlaying="y", range=[0, 1], visible=False, fixedrange=True))


def epoch_metrics_chart(metrics: Sequence[dict]) -> go.Figure:
    """Per epoch: training and validation loss (left axis) and validation accuracy (right axis)."""
    epochs = [m for m in metrics if m.get("kind") == "epoch"]
    x = [m["epoch"] for m in epochs]
    fig = go.Figure()
    fig.add_scatter(x=x, y=[m["train_loss"] for m in epochs], name="train loss", mode="lines+markers",
                    line=dict(color=ACCENT))  # fmt: skip
    fig.add_scatter(x=x, y=[m["val_loss"] for m in epochs], name="val loss", mode="lines+markers",
                    line=dict(color=VAL_COLOUR))  # fmt: skip
    fig.add_scatter(
        x=x,
        y=[m["val_accuracy"] for m in epochs],
        name="val accuracy",
        mode="lines+markers",
        yaxis="y2",
        line=dict(color=VAL_COLOUR, dash="dot"),
    )
    best = [m for m in epochs if m.get("best")]
    if best:
        fig.add_scatter(x=[best[-1]["epoch"]], y=[best[-1]["val_accuracy"]], yaxis="y2", mode="markers",
                        name="best checkpoint", marker=dict(size=13, symbol="star", color="#16a34a"))  # fmt: skip
    fig.update_layout(
        title="Per epoch",
        xaxis=dict(title="epoch", dtick=1 if len(x) <= 20 else None),
        yaxis=dict(title="loss"),
        yaxis2=dict(title="accuracy", overlaying="y", side="right", range=[0, 1.02], tickformat=".0%"),
    )
    return _layout(fig)


class _LiveFigures:
    """The newest (step chart, epoch chart) of each recently shown run, shared by every caller.

    Bounded to the last `max_runs` runs. Figures are only read after they are built (Streamlit
    serialises a copy), so one object can serve many tabs at once.
    """

    def __init__(self, max_runs: int = 8) -> None:
        self._figures: OrderedDict[str, tuple[int, tuple[go.Figure, go.Figure]]] = OrderedDict()
        self._lock = threading.Lock()
        self._max = max_runs
        self.builds = 0  # for tests and benchmarks: how often figures were really built

    def get(self, run_key: str, metrics: Sequence[dict]) -> tuple[go.Figure, go.Figure]:
        with self._lock:  # one build per new row even when many tabs ask at the same moment
            cached = self._figures.get(run_key)
            if cached is None or cached[0] != len(metrics):
                cached = (len(metrics), (step_loss_chart(metrics), epoch_metrics_chart(metrics)))
                self.builds += 1
            self._figures[run_key] = cached
            self._figures.move_to_end(run_key)
            while len(self._figures) > self._max:
                self._figures.popitem(last=False)
            return cached[1]


LIVE_FIGURES = _LiveFigures()


def live_run_figures(run_key: str, metrics: Sequence[dict]) -> tuple[go.Figure, go.Figure]:
    """(step loss chart, epoch metrics chart) of a run, built once per new metrics row for everyone.

    Args:
        run_key: identifies the run (its directory path).
        metrics: all its metric records so far (metrics only grow, so their count is the version).
    """
    return LIVE_FIGURES.get(run_key, metrics)


def confusion_matrix_chart(
    matrix: Sequence[Sequence[int]], labels: Sequence[str], title: str = "Confusion matrix"
) -> go.Figure:
    """Counts of (true class, predicted class) as a heatmap, with the counts written in the cells."""
    size = len(labels)
    fig = go.Figure(
        go.Heatmap(
            z=matrix,
            x=list(labels),
            y=list(labels),
            colorscale="Blues",
            text=matrix,
            texttemplate="%{text}",
            hovertemplate="true %{y}, predicted %{x}: %{z}<extra></extra>",
            showscale=False,
        )
    )
    fig.update_layout(
        title=title,
        xaxis=dict(title="predicted", side="bottom"),
        yaxis=dict(title="true", autorange="reversed"),
        height=140 + 36 * size,
        margin=dict(l=8, r=8, t=36, b=8),
    )
    return fig


def class_counts_chart(counts: dict[str, int], val_counts: dict[str, int] | None = None) -> go.Figure:
    """Images per class (split into training/validation when `val_counts` is given)."""
    names = list(counts)
    fig = go.Figure()
    label = "training" if val_counts else "images"
    fig.add_bar(x=names, y=[counts[n] for n in names], name=label, marker_color=ACCENT)
    if val_counts:
        fig.add_bar(
            x=names, y=[val_counts.get(n, 0) for n in names], name="validation", marker_color=VAL_COLOUR
        )
    fig.update_layout(barmode="stack", title="Images per class", yaxis_title="images")
    return _layout(fig, height=260)


def format_eta(seconds: float | None) -> str:
    """'1 min 05 s', '12 s', or '' when unknown."""
    if seconds is None or not math.isfinite(seconds) or seconds < 0:
        return ""
    seconds = round(seconds)
    if seconds >= 3600:
        return f"{seconds // 3600} h {seconds % 3600 // 60:02d} min"
    if seconds >= 60:
        return f"{seconds // 60} min {seconds % 60:02d} s"
    return f"{seconds} s"


def metrics_rows(results: dict) -> list[dict]:
    """Before / after / soup as table rows: accuracy, macro F1, ROC-AUC, loss."""
    rows = []
    entries = [
        (f"before ({results.get('before_kind', '')})", results.get("before")),
        (f"after (best epoch {results.get('best_epoch')})", results.get("after")),
    ]
    soup = results.get("soup")
    if soup:
        entries.append((f"soup of epochs {', '.join(map(str, soup['epochs']))}", soup["report"]))
    for name, report in entries:
        if report:
            rows.append(
                {
                    "model": name,
                    "accuracy": report["accuracy"],
                    "macro F1": report["macro_f1"],
                    "ROC-AUC": report.get("roc_auc"),
                    "loss": report.get("loss"),
                }
            )
    return rows
