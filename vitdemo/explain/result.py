"""What one explanation returns (the contract the app, CLI and metrics rely on)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from vitdemo.models.prediction import ClassScore

__all__ = ["ClassScore", "ExplainResult"]  # ClassScore lives in models/; re-exported for callers of explain


@dataclass
class ExplainResult:
    """Everything the app shows for one (model, image, target) — from one forward pass per model.

    Attributes:
        top_k: highest-probability classes, best first.
        target: the class the maps explain (default: top-1).
        view: the image exactly as the network saw it, uint8 (H, W, 3) — maps are aligned with it.
        attentions: ViTs only: every layer's softmax attention, float32 (layers, heads, tokens, tokens).
        maps: name → float32 (H, W) in [0, 1] at the view's resolution ("cls", "rollout", "relevance",
            "gradcam", "gradcam++", ...).
        raw_maps: the same names → unscaled scores at the model's own resolution (patch grid / feature map).
        unavailable: name → one sentence why that map does not exist for this model
            (e.g. "cls": "This ViT has no class token (global average pooling).").
        timings: stage name → seconds.
        logits: the network's raw scores for the image, float32 (num_classes,).
        faithfulness: map name → metric name → value ("deletion_auc", "insertion_auc",
            "pointing_game", "energy_in_mask"); filled by `vitdemo.explain.faithfulness_report`.
        cam_layer: the Grad-CAM family's target layer ("layer4", "block:11", see
            `vitdemo.explain.cam_layers`); None when no CAM was requested.
    """

    top_k: list[ClassScore]
    target: ClassScore
    view: np.ndarray
    attentions: torch.Tensor | None = None
    maps: dict[str, np.ndarray] = field(default_factory=dict)
    raw_maps: dict[str, np.ndarray] = field(default_factory=dict)
    unavailable: dict[str, str] = field(default_factory=dict)
    timings: dict[str, float] = field(default_factory=dict)
    logits: np.ndarray | None = None
    faithfulness: dict[str, dict[str, float]] = field(default_factory=dict)
    cam_layer: str | None = None

    def peak(self, name: str) -> tuple[int, int]:
        """(row, col) in view pixels where map `name` is highest (first one on ties)."""
        heat = self.maps[name]
        row, col = np.unravel_index(int(np.argmax(heat)), heat.shape)
        return int(row), int(col)

    def summary(self) -> dict[str, Any]:
        """A JSON-ready digest: top-k, explained class, CAM layer, each map's peak, reasons, timings, faithfulness."""
        height, width = self.view.shape[:2]
        return {
            "top_k": [score.to_dict() for score in self.top_k],
            "target": self.target.to_dict(),
            "view_size": [height, width],
            "cam_layer": self.cam_layer,
            "maps": {
                name: {"peak": {"row": row, "col": col, "y_rel": row / height, "x_rel": col / width}}
                for name in self.maps
                for row, col in [self.peak(name)]
            },
            "unavailable": dict(self.unavailable),
            "timings": {stage: round(seconds, 4) for stage, seconds in self.timings.items()},
            "faithfulness": {
                name: {metric: round(float(value), 4) for metric, value in scores.items()}
                for name, scores in self.faithfulness.items()
            },
        }
