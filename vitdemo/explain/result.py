"""What one explanation returns (the contract the app, CLI and metrics rely on)."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch


@dataclass(frozen=True)
class ClassScore:
    """One entry of a top-k list."""

    index: int
    label: str
    prob: float


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
    """

    top_k: list[ClassScore]
    target: ClassScore
    view: np.ndarray
    attentions: torch.Tensor | None = None
    maps: dict[str, np.ndarray] = field(default_factory=dict)
    raw_maps: dict[str, np.ndarray] = field(default_factory=dict)
    unavailable: dict[str, str] = field(default_factory=dict)
    timings: dict[str, float] = field(default_factory=dict)
