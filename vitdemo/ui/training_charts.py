"""Plotly figures for fine-tuning runs: live loss curves, epoch metrics, confusion matrix, class counts.

Builders take the plain records of a run directory (`RunDir.read_metrics()`, `results.json`) and
return `go.Figure`s; nothing here talks to Streamlit, so they work in a notebook or a test too.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import plotly.graph_objects as go

from vitdemo.ui.figures import ACCENT, MUTED

VAL_COLOUR = "#ea580c"  # validation curves: orange against the blue training curve
_SMOOTHING = 0.8  # exponential moving average of the step losses, as TensorBoard draws it


def _ema(values: Sequence[float], weight: float = _SMOOTHING) -> list[float]:
    """Debiased exponential moving average (early points are not dragged towards zero)."""
    out, avg = [], 0.0
    for i, v in enumerate(values, start=1):
        avg = weight * avg + (1 - weight) * v
        out.append(avg / (1 - weight**i))
    return out


def _layout(fig: go.Figure, height: int = 300) -> go.Figure:
    fig.update_layout(
        height=height,
        margin=dict(l=8, r=8, t=36, b=8),
        legend=dict(orientation="h", yanchor="bottom", y=1.0, xanchor="right", x=1.0),
        hovermode="x unified",
    )
    return fig


def step_loss_chart(metrics: Sequence[dict]) -> go.Figure:
    """Training loss per optimizer step: raw (faint) and smoothed, with epoch boundaries.

    Args:
        metrics: the run's metric records; only `kind == "step"` ones are drawn.
    """
    steps = [m for m in metrics if m.get("kind") == "step"]
    x = [m["step"] for m in steps]
    y = [m["loss"] for m in steps]
    fig = go.Figure()
    fig.add_scatter(x=x, y=y, mode="lines", name="loss per step", line=dict(color=MUTED, width=1))
    fig.add_scatter(x=x, y=_ema(y), mode="lines", name="smoothed", line=dict(color=ACCENT, width=2.5))
    for m in metrics:
        if m.get("kind") == "epoch" and steps:
            last_step = max((s["step"] for s in steps if s["epoch"] == m["epoch"]), default=None)
            if last_step is not None:
                fig.add_vline(x=last_step, line=dict(color="#e2e8f0", width=1))
    fig.update_layout(title="Training loss", xaxis_title="step", yaxis_title="cross-entropy")
    return _layout(fig)


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
