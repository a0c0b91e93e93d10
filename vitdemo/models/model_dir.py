"""The on-disk format of our own models: the bundled demo models and every fine-tuning run.

A model directory holds:
  * `model.safetensors` — the timm network's state dict (never pickle: safe to load from anyone);
  * `vitdemo.json`      — the model card: how to rebuild the architecture with timm, labels,
    preprocessing, family, and free-form provenance (training recipe, metrics, seed).

The architecture is plain data (`timm_name` + `model_kwargs` for `timm.create_model`), so loading a
directory never executes code from it.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import timm
import torch
from safetensors.torch import load_file, save_file

import vitdemo.models.architectures  # noqa: F401  (registers our own architectures with timm)
from vitdemo.errors import ModelSpecError

CARD_NAME = "vitdemo.json"
WEIGHTS_NAME = "model.safetensors"
FORMAT = "vitdemo-model/1"


def is_model_dir(path: str | Path) -> bool:
    """True when `path` is a directory in our format (card + weights)."""
    p = Path(path)
    return (p / CARD_NAME).is_file() and (p / WEIGHTS_NAME).is_file()


def read_card(path: str | Path) -> dict[str, Any]:
    """The model card of a model directory, validated enough to rebuild the network."""
    card_path = Path(path) / CARD_NAME
    try:
        card = json.loads(card_path.read_text())
    except (OSError, json.JSONDecodeError) as err:
        raise ModelSpecError(f"{card_path} is not a readable vitdemo model card ({err}).") from None
    missing = [k for k in ("timm_name", "labels", "preprocessing", "family") if k not in card]
    if missing:
        raise ModelSpecError(f"{card_path} is missing {', '.join(missing)}.")
    return card


def build_network(card: dict[str, Any]) -> torch.nn.Module:
    """An untrained network with the card's architecture (timm.create_model, no download)."""
    kwargs = dict(card.get("model_kwargs", {}))
    kwargs["num_classes"] = len(card["labels"])
    return timm.create_model(card["timm_name"], pretrained=False, **kwargs)


def load_model_dir_network(path: str | Path, card: dict[str, Any] | None = None) -> torch.nn.Module:
    """Rebuild the network of a model directory and load its safetensors weights (eval mode)."""
    card = card or read_card(path)
    network = build_network(card)
    try:
        state = load_file(str(Path(path) / WEIGHTS_NAME))
        network.load_state_dict(state)
    except Exception as err:  # corrupt file, wrong shapes: one sentence, not a traceback
        raise ModelSpecError(
            f"The weights in {path} do not fit the architecture in its card ({err})."
        ) from None
    return network.eval()


def save_model_dir(path: str | Path, network: torch.nn.Module, card: dict[str, Any]) -> Path:
    """Write `network`'s weights and `card` as a model directory; returns the directory.

    `card` must hold timm_name, model_kwargs, labels, preprocessing (a dict) and family.
    Writes to temporary names first so a crash never leaves a half-written model behind.
    """
    out = Path(path)
    out.mkdir(parents=True, exist_ok=True)
    card = {"format": FORMAT, **card}
    state = {k: v.detach().to("cpu").contiguous() for k, v in network.state_dict().items()}
    tmp_weights, tmp_card = out / (WEIGHTS_NAME + ".tmp"), out / (CARD_NAME + ".tmp")
    save_file(state, str(tmp_weights))
    tmp_card.write_text(json.dumps(card, indent=2))
    tmp_weights.replace(out / WEIGHTS_NAME)
    tmp_card.replace(out / CARD_NAME)
    return out
