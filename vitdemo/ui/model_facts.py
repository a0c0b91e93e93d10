"""A loaded model described in plain words: the facts the Models & about page lists."""

from __future__ import annotations

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
    return (
        f"{g.grid_size[0]}×{g.grid_size[1]} patches of {g.patch_size[0]}×{g.patch_size[1]} px, "
        f"{tokens}{extra_text}: {g.num_tokens} tokens per image"
    )


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
    metrics = model.card.get("metrics") if isinstance(model.card, dict) else None
    if isinstance(metrics, dict):
        shown = ", ".join(
            f"{k} {v:.3g}" if isinstance(v, float) else f"{k} {v}" for k, v in list(metrics.items())[:6]
        )
        facts.append(("Measured", shown))
    return facts
