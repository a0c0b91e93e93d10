"""Top-k predictions for a batch of images: the simplest thing to do with a loaded model."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch
from PIL import Image

from vitdemo.errors import VitdemoError
from vitdemo.models.batching import batched_logits
from vitdemo.models.loaded import LoadedModel

BATCH_SIZE = 16  # bounds memory for long image lists; CPU throughput barely improves beyond this


@dataclass(frozen=True)
class ClassScore:
    """One entry of a top-k list."""

    index: int
    label: str
    prob: float

    def to_dict(self) -> dict[str, Any]:
        return {"index": self.index, "label": self.label, "prob": round(self.prob, 6)}


def predict(
    model: LoadedModel,
    images: Image.Image | Sequence[Image.Image],
    top_k: int = 3,
) -> list[list[ClassScore]]:
    """The `top_k` most probable classes of each image, best first.

    Args:
        model: from `load_model`.
        images: RGB PIL images (use `vitdemo.data.images.load_image` for files and uploads);
            a single image is treated as a list of one.
        top_k: how many classes per image; capped at the model's number of classes.

    Returns:
        One list of `ClassScore(index, label, prob)` per image, in input order.
    """
    if isinstance(images, Image.Image):
        images = [images]
    if top_k < 1:
        raise VitdemoError(f"top_k must be at least 1 (got {top_k}).")
    k = min(top_k, model.num_classes)
    results: list[list[ClassScore]] = []
    for start in range(0, len(images), BATCH_SIZE):
        batch = torch.stack([model.preprocessing.to_tensor(im) for im in images[start : start + BATCH_SIZE]])
        probs = _probabilities(model, batch)  # (B, num_classes)
        top = probs.topk(k, dim=1)
        for values, indices in zip(top.values.tolist(), top.indices.tolist(), strict=True):
            results.append(
                [
                    ClassScore(index=i, label=model.labels[i], prob=float(p))
                    for p, i in zip(values, indices, strict=True)
                ]
            )
    return results


def _probabilities(model: LoadedModel, batch: torch.Tensor) -> torch.Tensor:
    # Through the model's request queue: a class predicting at once shares batched forward passes.
    logits = batched_logits(model, batch)  # (B, num_classes)
    return logits.softmax(dim=1)
