"""The Compare page's summary: which models can be judged on the labelled images, and how often they are right.

Plain Python on explanation results (no Streamlit), so the page only draws.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from vitdemo.explain.result import ExplainResult


def knows_label(labels: Sequence[str], label: str) -> bool:
    """Whether `label` is one of a model's classes (an ImageNet model cannot be right about a Shapes class)."""
    return label.lower() in {name.lower() for name in labels}


def judged_models(models: Sequence[Any], true_labels: Sequence[str]) -> list[Any]:
    """The models that know every true label, so their accuracy means something (none without labels)."""
    if not true_labels:
        return []
    return [model for model in models if all(knows_label(model.labels, label) for label in true_labels)]


def top1_accuracy(results: Sequence[ExplainResult | str | None], true_labels: Sequence[str]) -> float:
    """Share of images whose top-1 class is the true one; a failed cell (error line or None) counts as wrong."""
    right = sum(
        1
        for result, truth in zip(results, true_labels, strict=True)
        if isinstance(result, ExplainResult) and result.top_k[0].label.lower() == truth.lower()
    )
    return right / len(true_labels) if true_labels else 0.0


def accuracy_by_model(
    models: Sequence[Any],
    digests_and_labels: Sequence[tuple[str, str]],
    results: Mapping[tuple[str, str], ExplainResult | str],
) -> dict[str, float]:
    """spec → top-1 accuracy on the labelled images, for the models that can be judged on them."""
    labels = [label for _digest, label in digests_and_labels]
    return {
        model.spec: top1_accuracy(
            [results.get((model.spec, digest)) for digest, _ in digests_and_labels], labels
        )
        for model in judged_models(models, labels)
    }
