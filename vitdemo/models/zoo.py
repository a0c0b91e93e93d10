"""`load_model(spec)`: one entry point from a model spec string to a ready `LoadedModel`."""

from __future__ import annotations

from collections.abc import Callable

import torch

from vitdemo.errors import ModelNotAvailableError, VitdemoError
from vitdemo.models.hf_models import load_hf_repo
from vitdemo.models.hub import hub_offline
from vitdemo.models.loaded import LoadedModel
from vitdemo.models.local_models import load_bundled, load_directory
from vitdemo.models.specs import ModelSpec, SpecKind, parse_spec
from vitdemo.models.timm_models import load_timm

_LOADERS: dict[SpecKind, Callable[[ModelSpec], LoadedModel]] = {
    "bundled": load_bundled,
    "timm": load_timm,
    "hf": load_hf_repo,
    "dir": load_directory,
}


def load_model(spec: str, device: str | torch.device | None = None) -> LoadedModel:
    """Resolve a model spec to a network with its preprocessing, labels, family and geometry.

    Args:
        spec: "demo-vit", "demo-hybrid", "demo-resnet", "vit", "resnet", "timm:NAME[.TAG]", "hf:OWNER/REPO" or a
            model directory; append "@random" for untrained weights of the same architecture.
        device: where to put the network; None picks CUDA when available, else the CPU.

    Returns:
        A `LoadedModel` in eval mode. It is meant to be shared read-only (e.g. via st.cache_resource).

    Raises:
        ModelSpecError: the spec names nothing we can load (unknown, not a ViT/ResNet, bad folder).
        ModelNotAvailableError: the weights are not on this machine and cannot be downloaded now;
            the message says how to fetch them. There is never a silent fallback to another model.
    """
    parsed = parse_spec(spec)
    target = resolve_device(device)
    model = _LOADERS[parsed.kind](parsed)
    if target.type != "cpu":
        model.network.to(target)
    return model


def fetch_model(spec: str) -> LoadedModel:
    """Download a hub model into the standard HF cache (if not there yet) and check that it loads.

    Raises:
        ModelNotAvailableError: the hub is switched off (HF_HUB_OFFLINE) or unreachable.
        ModelSpecError: as for `load_model`.
    """
    parsed = parse_spec(spec)
    if parsed.kind in ("timm", "hf") and hub_offline():
        raise ModelNotAvailableError(
            f"Cannot fetch {spec}: HF_HUB_OFFLINE is set; unset it on a machine with internet access and run "
            "the fetch again."
        )
    return load_model(spec, device="cpu")


def resolve_device(device: str | torch.device | None) -> torch.device:
    """None → CUDA when available, else CPU; a named device must exist."""
    if device is None:
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        target = torch.device(device)
    except (RuntimeError, TypeError):
        raise VitdemoError(f"'{device}' is not a device: use cpu or cuda.") from None
    if target.type == "cuda" and not torch.cuda.is_available():
        raise VitdemoError("A CUDA device was requested but this machine has no usable CUDA GPU: use cpu.")
    return target
