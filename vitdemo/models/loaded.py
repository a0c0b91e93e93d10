"""The loaded-model contract every other layer relies on (see DESIGN.md).

A `LoadedModel` is shared read-only between Streamlit threads: nothing here keeps
per-call state. Code that must temporarily change the network (hooks, grad flags)
takes `model.lock` for the whole critical section and restores everything before
releasing it.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import torch
from PIL import Image

Family = Literal["vit", "cnn"]
Backend = Literal["timm", "hf"]

_PIL_INTERPOLATION = {
    "bicubic": Image.Resampling.BICUBIC,
    "bilinear": Image.Resampling.BILINEAR,
    "nearest": Image.Resampling.NEAREST,
    "lanczos": Image.Resampling.LANCZOS,
}


@dataclass(frozen=True)
class Preprocessing:
    """How a model wants its input, read from the model's own config (never guessed)."""

    input_size: tuple[int, int]  # (H, W) of the network input
    mean: tuple[float, float, float]
    std: tuple[float, float, float]
    interpolation: str = "bicubic"  # one of _PIL_INTERPOLATION
    crop_pct: float = 1.0  # resize the short side to size / crop_pct, then centre-crop
    crop_mode: str = "center"  # "center" | "squash" (resize straight to input_size, no crop)

    def view(self, image: Image.Image) -> np.ndarray:
        """The image exactly as the network sees it, before normalisation: uint8 (H, W, 3).

        Maps and overlays are drawn on this view, so they line up with the patches.
        """
        h, w = self.input_size
        resample = _PIL_INTERPOLATION.get(self.interpolation, Image.Resampling.BICUBIC)
        if self.crop_mode == "squash" or (self.crop_pct >= 1.0 and image.size == (w, h)):
            return np.asarray(image.convert("RGB").resize((w, h), resample))
        # Resize so the crop window covers crop_pct of the short side, then centre-crop.
        scale_h, scale_w = h / self.crop_pct, w / self.crop_pct
        iw, ih = image.size
        s = max(scale_w / iw, scale_h / ih)
        rw, rh = max(w, round(iw * s)), max(h, round(ih * s))
        resized = image.convert("RGB").resize((rw, rh), resample)
        left, top = (rw - w) // 2, (rh - h) // 2
        return np.asarray(resized.crop((left, top, left + w, top + h)))

    def normalise(self, view: np.ndarray) -> torch.Tensor:
        """uint8 (H, W, 3) view → float tensor (3, H, W) normalised with mean/std."""
        pixels = np.array(view, dtype=np.uint8)  # a writable copy: PIL-backed arrays are read-only
        x = torch.from_numpy(pixels).permute(2, 0, 1).float().div_(255.0)
        mean = torch.tensor(self.mean).view(3, 1, 1)
        std = torch.tensor(self.std).view(3, 1, 1)
        return (x - mean) / std

    def to_tensor(self, image: Image.Image) -> torch.Tensor:
        """PIL RGB image → normalised (3, H, W) tensor, ready to batch."""
        return self.normalise(self.view(image))

    def to_dict(self) -> dict[str, Any]:
        return {
            "input_size": list(self.input_size),
            "mean": list(self.mean),
            "std": list(self.std),
            "interpolation": self.interpolation,
            "crop_pct": self.crop_pct,
            "crop_mode": self.crop_mode,
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Preprocessing:
        size = d["input_size"]
        size = tuple(size[-2:]) if isinstance(size, list | tuple) else (int(size), int(size))
        return cls(
            input_size=(int(size[0]), int(size[1])),
            mean=tuple(float(v) for v in d["mean"]),
            std=tuple(float(v) for v in d["std"]),
            interpolation=d.get("interpolation", "bicubic"),
            crop_pct=float(d.get("crop_pct", 1.0)),
            crop_mode=d.get("crop_mode", "center"),
        )


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

    def logits(self, x: torch.Tensor) -> torch.Tensor:
        """(B, 3, H, W) normalised batch → (B, num_classes) logits, whatever the backend."""
        if self.backend == "hf":
            return self.network(pixel_values=x).logits
        return self.network(x)

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
