"""Grad-CAM's target layer, chosen by a simple name and read from the model (never hard-coded).

ResNets: a stage, `layer1` … `layer4`. The target is the stage's output, which is its last
block's output, the layer pytorch-grad-cam users pass as `model.layer3[-1]`. Default: the last
stage.
ViTs: a transformer block, `block:0` … `block:{depth-1}`; negative indices count from the end
(`block:-1`, the default, is the last block). The target is the block's first LayerNorm
(`blocks[i].norm1` in timm, `layernorm_before` in Hugging Face), the usual ViT Grad-CAM layer.

Earlier layers give finer maps of simpler patterns; later layers give coarser maps that are
more specific to the class.
"""

from __future__ import annotations

from dataclasses import dataclass

from vitdemo.errors import VitdemoError
from vitdemo.explain.attention_capture import transformer_blocks
from vitdemo.explain.cnn_capture import cnn_stages
from vitdemo.models.loaded import LoadedModel

BLOCK_PREFIX = "block:"


@dataclass(frozen=True)
class CamLayer:
    """One resolved Grad-CAM target layer."""

    name: str  # canonical name: "layer3" or "block:5" (never a negative index)
    index: int  # position among the model's stages or blocks, 0 = nearest the input


def cam_layers(model: LoadedModel) -> list[str]:
    """The Grad-CAM target layers `model` offers, input side first; the last one is the default.

    Args:
        model: a loaded ViT (`block:0` … `block:{depth-1}`) or ResNet (`layer1` … `layer4`).

    Raises:
        VitdemoError: the network's stages or blocks cannot be found.
    """
    if model.family == "vit":
        return [f"{BLOCK_PREFIX}{i}" for i in range(len(transformer_blocks(model)))]
    return cnn_stages(model.network)


def resolve_cam_layer(model: LoadedModel, name: str | None) -> CamLayer:
    """Validate a Grad-CAM layer name for `model` (case and spaces ignored); None is the last layer.

    Args:
        model: the model whose layers are meant.
        name: a name from `cam_layers(model)`, a `block:-k` alias for ViTs, or None.

    Raises:
        VitdemoError: a name this model has no layer for (one line, listing the choices).
    """
    choices = cam_layers(model)
    if name is None:
        return CamLayer(choices[-1], len(choices) - 1)
    key = "".join(str(name).split()).lower()
    if model.family == "vit" and key.startswith(BLOCK_PREFIX):
        index = _block_index(key.removeprefix(BLOCK_PREFIX), len(choices))
        if index is not None:
            return CamLayer(choices[index], index)
    elif key in choices:
        return CamLayer(key, choices.index(key))
    kind = "ViT" if model.family == "vit" else "ResNet"
    raise VitdemoError(f"'{name}' is not a Grad-CAM layer of this {kind}; {_choices_text(model, choices)}.")


def _block_index(text: str, depth: int) -> int | None:
    """`text` as a block index in [-depth, depth), made non-negative; None when it is not one."""
    try:
        index = int(text)
    except ValueError:
        return None
    return index % depth if -depth <= index < depth else None


def _choices_text(model: LoadedModel, choices: list[str]) -> str:
    if model.family == "vit" and len(choices) > 1:
        return f"choose {choices[0]} … {choices[-1]} (or block:-1 for the last of its {len(choices)} blocks)"
    return f"choose from {', '.join(choices)}"
