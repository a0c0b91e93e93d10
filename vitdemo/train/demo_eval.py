"""Measure a Shapes-trained model: accuracy, and whether its explanations point at the object.

Used by `python -m vitdemo.train.shapes evaluate` to write the model cards, and by the tests on a
smaller fixed sample, so the figures in a card and the thresholds in CI come from the same code.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np
from PIL import Image

from vitdemo.data.drawn_shapes import drawn_set
from vitdemo.data.shapes import SHAPE_CLASSES, SPLIT_SEEDS, render_shape
from vitdemo.models.loaded import LoadedModel

# The maps whose pointing game we report, by family; the card names the best one.
MAPS_BY_FAMILY = {"vit": ("cls", "rollout", "relevance", "gradcam"), "cnn": ("gradcam",)}


@dataclass
class DemoModelReport:
    n_test: int
    top1: float  # accuracy on the held-out test split (cluttered)
    pointing: dict[str, float]  # map name → share of images whose map peaks inside the object
    energy: dict[str, float]  # map name → mean share of the map's mass inside the object
    drawn_top1: float  # accuracy on plain drawings made by another renderer
    drawn_n: int
    errors: list[dict] = field(default_factory=list)  # the misclassified test images
    seconds: float = 0.0

    @property
    def best_map(self) -> str:
        return max(self.pointing, key=self.pointing.get)

    def as_card_metrics(self) -> dict:
        return {
            "test_split_seed": SPLIT_SEEDS["test"],
            "n_test": self.n_test,
            "top1": round(self.top1, 4),
            "pointing_game": {k: round(v, 4) for k, v in self.pointing.items()},
            "energy_in_mask": {k: round(v, 4) for k, v in self.energy.items()},
            "best_map": self.best_map,
            "drawn_top1": round(self.drawn_top1, 4),
            "drawn_n": self.drawn_n,
            "measured": time.strftime("%Y-%m-%d"),
        }


def _peak_in_mask(saliency: np.ndarray, mask: np.ndarray) -> bool:
    y, x = np.unravel_index(int(np.argmax(saliency)), saliency.shape)
    return bool(mask[y, x])


def _energy_in_mask(saliency: np.ndarray, mask: np.ndarray) -> float:
    total = float(saliency.sum())
    return float(saliency[mask].sum()) / total if total > 0 else 0.0


def evaluate_demo_model(model: LoadedModel, n_test: int = 600, drawn_per_class: int = 4) -> DemoModelReport:
    """Accuracy and pointing game on test images `0..n_test-1` of the test split, plus drawn shapes.

    The maps explain the true class (the pointing-game convention), computed by `vitdemo.explain`.
    """
    from vitdemo.explain import explain  # the engine is heavier than this module needs at import

    start = time.perf_counter()
    names = MAPS_BY_FAMILY[model.family]
    hits = dict.fromkeys(names, 0)
    energy = dict.fromkeys(names, 0.0)
    correct, errors = 0, []
    for i in range(n_test):
        s = render_shape(SPLIT_SEEDS["test"], i)
        target = model.labels.index(SHAPE_CLASSES[s.label])
        result = explain(model, Image.fromarray(s.image), target=target, methods=names)
        predicted = result.top_k[0].index
        correct += predicted == target
        if predicted != target:
            errors.append({"index": i, "true": SHAPE_CLASSES[s.label], "predicted": result.top_k[0].label})
        for name in names:
            hits[name] += _peak_in_mask(result.maps[name], s.mask)
            energy[name] += _energy_in_mask(result.maps[name], s.mask)
    drawn = drawn_set(drawn_per_class)
    drawn_correct = sum(predict_label(model, image) == name for name, image, _ in drawn)
    return DemoModelReport(
        n_test=n_test,
        top1=correct / n_test,
        pointing={k: v / n_test for k, v in hits.items()},
        energy={k: v / n_test for k, v in energy.items()},
        drawn_top1=drawn_correct / len(drawn),
        drawn_n=len(drawn),
        errors=errors,
        seconds=time.perf_counter() - start,
    )


def predict_label(model: LoadedModel, image: Image.Image) -> str:
    """The top-1 label of one image (no explanation)."""
    import torch

    with torch.no_grad():
        logits = model.logits(model.preprocessing.to_tensor(image)[None].to(model.device))
    return model.labels[int(logits.argmax(1))]
