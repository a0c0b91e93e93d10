"""Checkpoints: a run's model directories, the demo recipe's resumable training state, weight digests.

Checkpoints are written with `vitdemo.models.model_dir.save_model_dir`: safetensors weights plus a
model card, so every checkpoint loads through `vitdemo.load_model(path)` like a bundled model.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from vitdemo.models.model_dir import save_model_dir


@dataclass
class CheckpointCard:
    """What every checkpoint of a run shares in its model card."""

    timm_name: str
    model_kwargs: dict
    labels: list[str]
    preprocessing: dict
    family: str
    base_model: str  # the spec the run started from
    run_id: str

    def card(self, **training: object) -> dict:
        """The model card for one checkpoint; `training` holds its epoch, metrics, etc."""
        epoch = training.get("epoch")
        accuracy = training.get("val_accuracy")
        detail = f"epoch {epoch}" if epoch is not None else "before the first epoch ended"
        if isinstance(accuracy, float):
            detail += f", validation accuracy {accuracy:.1%}"
        return {
            "name": f"fine-tuned {self.base_model}",
            "timm_name": self.timm_name,
            "model_kwargs": self.model_kwargs,
            "labels": self.labels,
            "preprocessing": self.preprocessing,
            "family": self.family,
            "source": f"fine-tuned from {self.base_model} in run {self.run_id} ({detail})",
            "base_model": self.base_model,
            "run_id": self.run_id,
            "training": training,
        }


def save_checkpoint(path: Path, network: nn.Module, card: dict) -> Path:
    """Write `network` as a model directory at `path` (atomic per file)."""
    return save_model_dir(path, network, card)


def save_training_state(path: Path, model: nn.Module, optimizer: torch.optim.Optimizer, step: int) -> None:
    """Write what a resumed run needs (weights, optimizer moments, step) as plain tensors.

    Written to a temporary file and renamed, so an interrupted save leaves the previous state.
    """
    tmp = path.with_name(path.name + ".tmp")
    torch.save({"model": model.state_dict(), "opt": optimizer.state_dict(), "step": step}, tmp)
    tmp.replace(path)


def load_training_state(
    path: Path, model: nn.Module, optimizer: torch.optim.Optimizer, device: torch.device
) -> int:
    """Restore `save_training_state`'s weights and optimizer state in place; the step to resume at."""
    state = torch.load(path, weights_only=True, map_location=device)  # tensors only, no pickled code
    model.load_state_dict(state["model"])
    optimizer.load_state_dict(state["opt"])
    return int(state["step"])


def weights_checksum(network: nn.Module, *, with_names: bool = True) -> str:
    """SHA-256 over every state entry's bytes (and its name), in key order: equal iff the weights are."""
    digest = hashlib.sha256()
    for key, value in network.state_dict().items():
        if with_names:
            digest.update(key.encode())
        digest.update(value.detach().to("cpu").contiguous().reshape(-1).view(torch.uint8).numpy().tobytes())
    return digest.hexdigest()


def weights_digest(network: nn.Module) -> str:
    """12 hex digits naming which trained weights were used (cache keys of a teacher's outputs).

    Over the tensors' bytes only, as the demo recipe has always keyed its caches.
    """
    return weights_checksum(network, with_names=False)[:12]
