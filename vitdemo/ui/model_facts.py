"""A loaded model described in plain words: the facts the Models & about page lists."""

from __future__ import annotations

from timm.models.vision_transformer_hybrid import ConvStem

from vitdemo.models import LoadedModel
from vitdemo.ui.texts import FAMILY_NAMES

MAX_LABELS_SHOWN = 8


def parameter_count(model: LoadedModel) -> int:
    """Number of weights in the network."""
    return sum(p.numel() for p in model.network.parameters())


def _count_parameters(model: LoadedModel) -> str:
    total = parameter_count(model)
    return f"{total / 1e6:.1f} million" if total >= 1e5 else f"{total:,}"


def _labels(model: LoadedModel) -> str:
    shown = ", ".join(model.labels[:MAX_LABELS_SHOWN])
    more = model.num_classes - MAX_LABELS_SHOWN
    return f"{model.num_classes}: {shown}" + (f", … and {more} more" if more > 0 else "")


def _geometry(model: LoadedModel) -> str | None:
    g = model.geometry
    if g is None:
        return None
    tokens = "a class token" if g.has_class_token else "no class token (averages its patches)"
    extra = g.num_prefix_tokens - int(g.has_class_token)
    extra_text = f" and {extra} more extra token(s) (distillation / registers)" if extra > 0 else ""
    grid = f"{g.grid_size[0]}×{g.grid_size[1]}"
    patch = f"{g.patch_size[0]}×{g.patch_size[1]} px"
    backbone = getattr(getattr(model.network, "patch_embed", None), "backbone", None)
    if isinstance(backbone, ConvStem):  # Xiao et al. 2021: a few convolutions instead of one projection
        cells = f"{grid} patches of {patch}, embedded by a conv stem of {len(backbone)} convolutions"
    elif backbone is not None:  # the ViT paper's hybrid: tokens are cells of a CNN's feature map
        cells = f"{grid} cells of a CNN feature map (one per {patch} of image)"
    else:
        cells = f"{grid} patches of {patch}"
    return f"{cells}, {tokens}{extra_text}: {g.num_tokens} tokens per image"


def model_facts(model: LoadedModel) -> list[tuple[str, str]]:
    """(name, value) pairs for a person: family, origin, input, classes, size, token layout, card metrics."""
    p = model.preprocessing
    facts = [
        ("Family", FAMILY_NAMES.get(model.family, model.family)),
        ("Weights", model.source),
        (
            "Input",
            f"{p.input_size[0]}×{p.input_size[1]} px, {p.interpolation} resize, "
            + ("squashed to size" if p.crop_mode == "squash" else f"centre crop of {p.crop_pct:.0%}"),
        ),
        ("Classes", _labels(model)),
        ("Parameters", _count_parameters(model)),
    ]
    layout = _geometry(model)
    if layout:
        facts.append(("Tokens", layout))
    card = model.card if isinstance(model.card, dict) else {}
    if isinstance(card.get("description"), str):  # a bundled or fine-tuned model's own words
        facts.insert(1, ("What it is", card["description"]))
    if card.get("status") in STATUS_TEXT:
        facts.append(("Status", STATUS_TEXT[card["status"]]))
    metrics = card.get("metrics")
    if isinstance(metrics, dict):
        facts.append(("Measured", _measured(metrics)))
    training = _training(card.get("training"))
    if training:
        facts.append(("Training", training))
    return facts


def _training(training: object) -> str | None:
    """A demo model's training in one line: stages, minutes, hardware and images (from its card)."""
    if not isinstance(training, dict) or not isinstance(training.get("history"), list):
        return None
    stages = [h for h in training["history"] if isinstance(h, dict)]
    hardware = sorted({str(h.get("hardware") or h.get("device", "?")) for h in stages})
    return (
        f"{len(stages)} stage(s), {training.get('minutes', '?')} min on {' and '.join(hardware)}, "
        f"{training.get('images_seen', 0):,} training images seen"
    )


# What a bundled model's card status means for someone looking at its predictions.
STATUS_TEXT = {
    "trained": "trained: meets its accuracy and pointing-game targets",
    "in-training": "still in training: its predictions are often wrong, though its attention already finds the object",
}


def _measured(metrics: dict) -> str:
    """Demo-model cards get one readable sentence; other cards their first few figures."""
    pointing, best = metrics.get("pointing_game"), metrics.get("best_map")
    if isinstance(metrics.get("top1"), float) and isinstance(pointing, dict) and best in pointing:
        return (
            f"top-1 {metrics['top1']:.1%} on {metrics.get('n_test', '?')} held-out Shapes images; "
            f"its {best} map points at the object in {pointing[best]:.1%} of them"
        )
    return ", ".join(
        f"{k} {v:.3g}" if isinstance(v, float) else f"{k} {v}"
        for k, v in list(metrics.items())[:6]
        if not isinstance(v, dict | list)
    )
