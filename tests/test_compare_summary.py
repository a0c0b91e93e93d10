"""The Compare page's accuracy: judged only where the models know the true classes; failures count as wrong."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np

from vitdemo.explain.result import ExplainResult
from vitdemo.models.prediction import ClassScore
from vitdemo.ui.comparison import accuracy_by_model
from vitdemo.ui.figures import accuracy_bar_chart

SHAPES = SimpleNamespace(spec="demo-vit", labels=["circle", "square", "star"])
IMAGENET = SimpleNamespace(spec="vit", labels=["tench", "goldfish"])


def said(label: str) -> ExplainResult:
    top = ClassScore(0, label, 0.9)
    return ExplainResult(
        top_k=[top], target=top, view=np.zeros((4, 4, 3), np.uint8), attentions=None, maps={}, raw_maps={}
    )


def test_accuracy_counts_right_answers_and_failed_cells_as_wrong():
    images = [("a", "circle"), ("b", "Square"), ("c", "star"), ("d", "star")]
    results = {
        ("demo-vit", "a"): said("circle"),
        ("demo-vit", "b"): said("square"),
        ("demo-vit", "c"): said("circle"),
        ("demo-vit", "d"): "demo-vit could not explain this image.",
    }
    accuracy = accuracy_by_model([SHAPES, IMAGENET], images, results)
    assert accuracy == {"demo-vit": 0.5}  # the ImageNet model cannot be judged on Shapes classes
    figure = accuracy_bar_chart(accuracy, len(images))
    assert figure.data[0].text == ("50%",) and "4 Shapes images" in figure.layout.xaxis.title.text


def test_nothing_is_judged_without_labelled_images():
    assert accuracy_by_model([SHAPES], [], {}) == {}
