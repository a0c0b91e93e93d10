"""PNG versions of the "Inside the ViT" plots for the CLI, drawn with matplotlib's Agg canvas.

Plotly's static export needs kaleido (and a browser), which vitdemo does not depend on; matplotlib
is already installed with pytorch-grad-cam and writes PNGs headless. The figures show the same
data as the app's plotly figures in `vitdemo.ui.inside_figures`.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
from matplotlib.figure import Figure

DPI = 110


def per_head_png(path: Path, values: np.ndarray, *, y_label: str, reference: float, title: str) -> None:
    """One dot per head at its layer (ViT paper, Fig. 7 right), a dashed line at the uniform value."""
    layers, heads = values.shape
    fig = Figure(figsize=(6, 4), dpi=DPI)
    ax = fig.add_subplot()
    for layer in range(layers):
        offsets = (np.arange(heads) - (heads - 1) / 2) / max(heads, 1) * 0.3
        ax.scatter(layer + 1 + offsets, values[layer], s=18, color="#2563eb", alpha=0.8)
    ax.axhline(reference, linestyle="--", color="#94a3b8", label="uniform attention")
    ax.set(xlabel="Network depth (layer)", ylabel=y_label, title=title, ylim=(0, None))
    ax.set_xticks(range(1, layers + 1))
    ax.legend(loc="lower right")
    fig.tight_layout()
    fig.savefig(path)


def image_png(path: Path, image: np.ndarray) -> None:
    """An RGB uint8 image saved as it is."""
    from PIL import Image

    Image.fromarray(image).save(path)


def logit_lens_png(path: Path, probs: np.ndarray, classes: Sequence[int], labels: Sequence[str]) -> None:
    """Layer × class probability heatmap, each cell labelled."""
    grid = probs[:, list(classes)]
    layers = grid.shape[0]
    fig = Figure(figsize=(1.2 + 1.0 * len(classes), 1.0 + 0.4 * layers), dpi=DPI)
    ax = fig.add_subplot()
    ax.imshow(grid, vmin=0, vmax=1, cmap="viridis", aspect="auto")
    ax.set_xticks(range(len(classes)), [labels[i][:16] for i in classes], rotation=30, ha="right")
    ax.set_yticks(range(layers), [f"layer {i + 1}" for i in range(layers)])
    for (row, col), p in np.ndenumerate(grid):
        ax.text(
            col, row, f"{p:.0%}", ha="center", va="center", color="white" if p < 0.6 else "black", fontsize=8
        )
    ax.set_title("Logit lens: each layer through the final norm and head")
    fig.tight_layout()
    fig.savefig(path)


def token_norms_png(path: Path, patches: np.ndarray, prefix: np.ndarray, prefix_names: Sequence[str]) -> None:
    """Left: the last layer's patch-norm map; right: median / largest patch norm and prefix norms per layer."""
    fig = Figure(figsize=(10, 4), dpi=DPI)
    left, right = fig.subplots(1, 2)
    shown = left.imshow(patches[-1], cmap="viridis")
    fig.colorbar(shown, ax=left, label="norm")
    left.set_title(f"Patch-token norms after layer {patches.shape[0]}")
    flat = patches.reshape(patches.shape[0], -1)
    layers = np.arange(1, flat.shape[0] + 1)
    right.plot(layers, np.median(flat, axis=1), label="median patch", color="#94a3b8")
    right.plot(layers, flat.max(axis=1), label="largest patch", color="#2563eb")
    for i, name in enumerate(prefix_names):
        right.plot(layers, prefix[:, i], linestyle=":", label=name)
    right.set(xlabel="layer", ylabel="token norm", title="Token norms per layer", ylim=(0, None))
    right.legend()
    fig.tight_layout()
    fig.savefig(path)


def sanity_png(
    path: Path, steps: Sequence[str], spearman: dict[str, np.ndarray], ssim: dict[str, np.ndarray]
) -> None:
    """Spearman and SSIM with the trained map per randomisation step, one line per method."""
    fig = Figure(figsize=(11, 4.2), dpi=DPI)
    left, right = fig.subplots(1, 2)
    for name in spearman:
        left.plot(steps, spearman[name], marker="o", label=name)
        right.plot(steps, ssim[name], marker="o", label=name)
    left.axhline(0.5, linestyle="--", color="#94a3b8")
    for ax, title in ((left, "Spearman rank correlation"), (right, "SSIM")):
        ax.set(title=title, ylim=(-1.05, 1.05), xlabel="randomised down to")
        ax.tick_params(axis="x", rotation=45)
    left.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path)
