"""One adapter per network library: how to call its networks and where their parts live.

Everything that differs between a timm network and a Hugging Face `ViTForImageClassification`
is here, so the rest of the package asks `model.adapter` instead of testing `backend == "hf"`.
A new library is one more `NetworkBackend` in `BACKENDS` (ARCHITECTURE.md, "How to add a
backend"), plus its loader in `zoo.py` and its attention capture in `explain/attention_capture.py`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch

from vitdemo.errors import VitdemoError

# What attention capture reads from each timm block's `attn` (see explain/attention_capture.py).
TIMM_ATTENTION_PARTS = ("qkv", "num_heads", "head_dim", "scale", "q_norm", "k_norm", "norm")


@dataclass(frozen=True)
class NetworkBackend:
    """How to use the networks of one library.

    Attributes:
        name: "timm" or "hf", as in `LoadedModel.backend`.
        logits: (network, normalised batch (B, 3, H, W)) → logits (B, classes).
        transformer_blocks: network → its transformer blocks, input side first; raises
            `VitdemoError` for a network without blocks we can read.
        position_table: network → its learned position embedding table (1, tokens, dim), or None.
    """

    name: str
    logits: Callable[[torch.nn.Module, torch.Tensor], torch.Tensor]
    transformer_blocks: Callable[[torch.nn.Module], list[torch.nn.Module]]
    position_table: Callable[[torch.nn.Module], torch.Tensor | None]


def _timm_blocks(network: torch.nn.Module) -> list[torch.nn.Module]:
    blocks = list(getattr(network, "blocks", []))
    supported = blocks and all(
        hasattr(blk, "norm1") and all(hasattr(getattr(blk, "attn", None), p) for p in TIMM_ATTENTION_PARTS)
        for blk in blocks
    )
    if not supported:
        raise VitdemoError(
            f"Attention capture supports timm ViT/DeiT-style models; {type(network).__name__} is not one."
        )
    return blocks


def _hf_layers(network: torch.nn.Module) -> list[torch.nn.Module]:
    vit = getattr(network, "vit", None)
    layers = getattr(vit, "layers", None)
    if layers is None:  # transformers 4.x naming
        layers = getattr(getattr(vit, "encoder", None), "layer", None)
    if layers is None:
        raise VitdemoError(f"{type(network).__name__} is not a ViTForImageClassification; cannot explain it.")
    return list(layers)


def _hf_position_table(network: torch.nn.Module) -> torch.Tensor | None:
    embeddings = getattr(getattr(network, "vit", None), "embeddings", None)
    return getattr(embeddings, "position_embeddings", None)


TIMM = NetworkBackend(
    name="timm",
    logits=lambda network, x: network(x),
    transformer_blocks=_timm_blocks,
    position_table=lambda network: getattr(network, "pos_embed", None),
)
HF = NetworkBackend(
    name="hf",
    logits=lambda network, x: network(pixel_values=x).logits,
    transformer_blocks=_hf_layers,
    position_table=_hf_position_table,
)
BACKENDS: dict[str, NetworkBackend] = {backend.name: backend for backend in (TIMM, HF)}
