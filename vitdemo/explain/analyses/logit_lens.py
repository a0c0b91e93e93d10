"""The logit lens: what the classifier would say if the network stopped after each block.

The token sequence after every transformer block goes through the model's own final norm and
classifier head — timm: `norm`, then `forward_head` (pooling, `fc_norm`, `head`; DeiT's distilled
heads averaged as in its eval forward); Hugging Face ViT: `vit.layernorm`, then `classifier` on the
class token. After the last block this is exactly the model's forward pass, so the last row equals
the model's logits. The class token is read for class-token models, the pooled patch tokens for
global-average-pooled ones (whatever the model's own head reads).

Only ViTs: a ResNet's stages have different widths, so earlier stages' pooled features cannot go
through its final classifier (that would need a trained probe per stage, which is another method).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from vitdemo.errors import VitdemoError
from vitdemo.explain.attention_capture import transformer_blocks
from vitdemo.explain.call_hooks import CallHooks
from vitdemo.models.loaded import LoadedModel

NOT_A_VIT = (
    "The logit lens and token norms need a Vision Transformer: a {arch}'s stages have different "
    "widths, so its classifier cannot read the earlier ones."
)


@dataclass(frozen=True)
class BlockOutputs:
    """The residual stream of one image after every transformer block.

    Attributes:
        tokens: float32 (layers, tokens, dim), prefix tokens first, before the final norm.
        logits: float32 (num_classes,), the model's own output for the image.
    """

    tokens: torch.Tensor
    logits: torch.Tensor


def block_outputs(model: LoadedModel, x: torch.Tensor) -> BlockOutputs:
    """Run the shared ViT once on `x` (1, 3, H, W), recording every block's output (call-owned hooks).

    Raises:
        VitdemoError: the model is not a ViT whose blocks we can read.
    """
    if model.family != "vit":
        raise VitdemoError(NOT_A_VIT.format(arch=type(model.network).__name__))
    blocks = transformer_blocks(model)
    recorded: list[torch.Tensor | None] = [None] * len(blocks)

    def keep(index: int):
        def record(output: torch.Tensor | tuple) -> None:
            hidden = output[0] if isinstance(output, tuple) else output  # HF layers may return tuples
            recorded[index] = hidden.detach()

        return record

    with model.lock, CallHooks() as hooks, torch.no_grad():
        for index, block in enumerate(blocks):
            hooks.record_output(block, keep(index))
        logits = model.logits(x.to(model.device))
    if any(t is None for t in recorded):
        raise VitdemoError("The model skipped a transformer block; its residual stream cannot be read.")
    tokens = torch.cat([t for t in recorded if t is not None]).float().cpu()  # (layers, tokens, dim)
    return BlockOutputs(tokens=tokens, logits=logits[0].float().cpu())


def logit_lens(model: LoadedModel, tokens: torch.Tensor) -> torch.Tensor:
    """Each layer's tokens through the model's final norm and classifier head.

    Args:
        model: the ViT the tokens came from.
        tokens: (layers, tokens, dim) from `block_outputs`.

    Returns:
        float32 (layers, num_classes) logits; the last row is the model's own output.
    """
    network = model.network
    dtype = next(network.parameters()).dtype
    with model.lock, torch.no_grad():
        hidden = tokens.to(model.device, dtype)
        if model.backend == "hf":
            logits = network.classifier(network.vit.layernorm(hidden)[:, 0])
        else:
            logits = network.forward_head(network.norm(hidden))
    return logits.float().cpu()


def first_layer_ranking_first(lens_logits: torch.Tensor, class_index: int) -> int | None:
    """The first layer (0-based) from which on `class_index` ranks first in every later layer.

    "From which on" rather than "first time": a class that leads in layer 2, loses the lead and
    only wins again in layer 9 is known from layer 9. None when it is not first in the last layer.
    """
    leaders = lens_logits.argmax(dim=-1)  # (layers,)
    if int(leaders[-1]) != class_index:
        return None
    layer = len(leaders) - 1
    while layer > 0 and int(leaders[layer - 1]) == class_index:
        layer -= 1
    return layer
