"""Classification metrics of a run, computed with scikit-learn (not the `evaluate` hub scripts)."""

from __future__ import annotations

import numpy as np
import torch
from sklearn.metrics import accuracy_score, confusion_matrix, f1_score, roc_auc_score


def classification_report(
    labels: np.ndarray | torch.Tensor,
    probabilities: np.ndarray | torch.Tensor,
    class_names: list[str],
    loss: float | None = None,
) -> dict:
    """Accuracy, macro F1, one-vs-rest ROC-AUC, per-class accuracy and the confusion matrix.

    Args:
        labels: true class index per image, shape (N,).
        probabilities: predicted class probabilities, shape (N, K), rows summing to 1.
        class_names: the K class names, index-aligned.
        loss: mean cross-entropy over the same images, if known.

    Returns:
        A JSON-ready dict. `roc_auc` is None when some class has no images (it is undefined then);
        a class with no images has per-class accuracy None.
    """
    y = np.asarray(labels, dtype=np.int64)
    p = np.asarray(probabilities, dtype=np.float64)
    k = len(class_names)
    predicted = p.argmax(1)
    everyone = list(range(k))
    matrix = confusion_matrix(y, predicted, labels=everyone)
    support = matrix.sum(1)
    per_class = {
        name: (float(matrix[i, i] / support[i]) if support[i] else None) for i, name in enumerate(class_names)
    }
    return {
        "accuracy": float(accuracy_score(y, predicted)),
        "macro_f1": float(f1_score(y, predicted, labels=everyone, average="macro", zero_division=0)),
        "roc_auc": _roc_auc(y, p, k),
        "per_class_accuracy": per_class,
        "confusion_matrix": matrix.tolist(),
        "loss": None if loss is None else float(loss),
        "n": len(y),
    }


def top1_accuracy(labels: np.ndarray | torch.Tensor, scores: np.ndarray | torch.Tensor) -> float:
    """Share of rows whose highest score (logit or probability, shape (N, K)) is the true class."""
    return float(accuracy_score(np.asarray(labels, dtype=np.int64), np.asarray(scores).argmax(1)))


def _roc_auc(y: np.ndarray, p: np.ndarray, k: int) -> float | None:
    if len(np.unique(y)) < k:  # one-vs-rest AUC needs positives and negatives for every class
        return None
    if k == 2:
        return float(roc_auc_score(y, p[:, 1]))
    # Renormalise: sklearn insists rows sum to 1 and float32 softmax drifts by ~1e-7.
    return float(roc_auc_score(y, p / p.sum(1, keepdims=True), multi_class="ovr", labels=list(range(k))))
