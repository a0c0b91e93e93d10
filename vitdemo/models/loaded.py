"""The loaded-model contract every other layer relies on (see ARCHITECTURE.md).

A `LoadedModel` is shared read-only between Streamlit threads: nothing here keeps
per-call state. Code that must temporarily change the network (hooks, grad flags)
takes `model.lock` for the whole critical section and restores everything before
releasing it; the hooks record only in the thread that registered them, so plain forward
passes (the batched predictions) run beside such a section without the lock.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Any, Literal

import torch

from vitdemo.models.backends import BACKENDS, NetworkBackend
from vitdemo.models.preprocessing import Preprocessing

__all__ = ["Backend", "Family", "LoadedModel", "Preprocessing", "VitGeometry"]  # Preprocessing: re-exported

Family = Literal["vit", "cnn"]
Backend = Literal["timm", "hf"]


@dataclass(frozen=True)
class VitGeometry:
    """Token layout of a ViT, read from the model (never a hard-coded 14×14 / one prefix token)."""

    grid_size: tuple[int, int]  # (rows, cols) of patch tokens
    patch_size: tuple[int, int]  # (H, W) pixels per patch
    num_prefix_tokens: int  # class + distillation + register tokens, in front of the patches
    has_class_token: bool  # False for global-average-pooled ViTs: no CLS map / rollout row

    @property
    def num_patches(self) -> int:
        return self.grid_size[0] * self.grid_size[1]

    @property
    def num_tokens(self) -> int:
        return self.num_prefix_tokens + self.num_patches


@dataclass(eq=False)
class LoadedModel:
    """A ready-to-use classifier: network + preprocessing + labels + geometry + provenance.

    Attributes:
        spec: the spec it was loaded from, as the user wrote it (e.g. "demo-vit", "timm:deit_tiny_patch16_224").
        network: the torch module in eval mode. For backend "timm" it is the timm model itself
            (`network(x)` → logits); for "hf" a `ViTForImageClassification` loaded with eager attention.
        preprocessing: input size, mean/std, interpolation, crop — from the model's own config.
        labels: class names, index-aligned with the logits.
        family: "vit" or "cnn".
        backend: "timm" or "hf" — how to call the network and where its layers live.
        geometry: token layout for ViTs, None for CNNs.
        source: one human sentence on where the weights came from ("bundled demo model", "random init", ...).
        card: free-form metadata (model card JSON for bundled/fine-tuned models, config for others).
        lock: serialises the critical sections that temporarily touch the shared network.
    """

    spec: str
    network: torch.nn.Module
    preprocessing: Preprocessing
    labels: list[str]
    family: Family
    backend: Backend
    geometry: VitGeometry | None
    source: str
    card: dict[str, Any] = field(default_factory=dict)
    lock: threading.RLock = field(default_factory=threading.RLock, repr=False)

    @property
    def num_classes(self) -> int:
        return len(self.labels)

    @property
    def device(self) -> torch.device:
        return next(self.network.parameters()).device

    @property
    def adapter(self) -> NetworkBackend:
        """How to call this network and where its parts live (see `backends.py`)."""
        return BACKENDS[self.backend]

    def logits(self, x: torch.Tensor) -> torch.Tensor:
        """(B, 3, H, W) normalised batch → (B, num_classes) logits, whatever the backend."""
        return self.adapter.logits(self.network, x)

    def class_index(self, target: int | str) -> int:
        """Resolve a class given as index or label (case-insensitive) to its index."""
        if isinstance(target, int) or (isinstance(target, str) and target.strip().lstrip("-").isdigit()):
            idx = int(target)
            if not 0 <= idx < self.num_classes:
                from vitdemo.errors import VitdemoError

                raise VitdemoError(
                    f"Class index {idx} is out of range: this model has {self.num_classes} classes."
                )
            return idx
        wanted = str(target).strip().lower()
        for i, name in enumerate(self.labels):
            if name.lower() == wanted or name.lower().split(",")[0].strip() == wanted:
                return i
        from vitdemo.errors import VitdemoError

        raise VitdemoError(f"'{target}' is not one of this model's classes.")
