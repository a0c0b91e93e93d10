"""Where a training run computes: device choice, autocast and memory layout.

Shared by the fine-tuning engine and the demo-model recipe, so both make the same choice.
"""

from __future__ import annotations

import contextlib

import torch


def default_device() -> str:
    """ "cuda" when a GPU is present, else "cpu"."""
    return "cuda" if torch.cuda.is_available() else "cpu"


def resolve_device(name: str | None) -> torch.device:
    """A device from a setting: None, "" or "auto" mean `default_device()`."""
    return torch.device(default_device() if name in (None, "", "auto") else name)


def autocast(device: torch.device) -> contextlib.AbstractContextManager:
    """bf16 autocast on GPUs that support it; plain fp32 elsewhere (CPU autocast is slower here)."""
    if device.type == "cuda" and torch.cuda.is_bf16_supported():
        return torch.autocast("cuda", dtype=torch.bfloat16)
    return contextlib.nullcontext()


def channels_last(x: torch.Tensor, device: torch.device) -> torch.Tensor:
    """The batch in channels-last layout on a GPU (faster convolutions), unchanged elsewhere."""
    return x.to(memory_format=torch.channels_last) if device.type == "cuda" else x
