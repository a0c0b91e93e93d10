"""Checkpoints of a run (model directories) and checkpoint averaging ("model soup").

Checkpoints are written with `vitdemo.models.model_dir.save_model_dir`: safetensors weights plus a
model card, so every checkpoint loads through `vitdemo.load_model(path)` like a bundled model.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
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


def state_snapshot(network: nn.Module, keys: list[str]) -> dict[str, torch.Tensor]:
    """CPU copies of the state entries `keys` (the ones training changes)."""
    state = network.state_dict()
    return {k: state[k].detach().to("cpu", copy=True) for k in keys}


def average_states(states: list[dict[str, torch.Tensor]]) -> dict[str, torch.Tensor]:
    """Uniform average of state dicts; integer entries (BatchNorm counters) come from the first.

    Args:
        states: state dicts with the same keys, best checkpoint first.
    """
    averaged = {}
    for key, first in states[0].items():
        if first.is_floating_point():
            averaged[key] = torch.stack([s[key].float() for s in states]).mean(0).to(first.dtype)
        else:
            averaged[key] = first.clone()
    return averaged


@dataclass
class BestK:
    """Keeps the K best epochs' trained state, ranked by (accuracy, then lower loss)."""

    k: int
    entries: list[tuple[float, float, int, dict]] = field(default_factory=list)  # (acc, -loss, epoch, state)

    def offer(self, accuracy: float, loss: float, epoch: int, make_state) -> None:
        """Consider an epoch; `make_state()` is only called when the epoch makes the top K."""
        if self.k <= 0:
            return
        key = (accuracy, -loss)
        if len(self.entries) >= self.k and key <= self.entries[-1][:2]:
            return
        self.entries.append((accuracy, -loss, epoch, make_state()))
        self.entries.sort(key=lambda e: (e[0], e[1]), reverse=True)
        del self.entries[self.k :]

    @property
    def epochs(self) -> list[int]:
        return [e[2] for e in self.entries]

    def states(self) -> list[dict]:
        return [e[3] for e in self.entries]


def weights_checksum(network: nn.Module) -> str:
    """SHA-256 over every state entry's bytes, in key order: equal iff the weights are identical."""
    digest = hashlib.sha256()
    for key, value in network.state_dict().items():
        digest.update(key.encode())
        digest.update(value.detach().to("cpu").contiguous().reshape(-1).view(torch.uint8).numpy().tobytes())
    return digest.hexdigest()
