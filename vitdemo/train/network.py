"""The network side of fine-tuning: a private copy, a fresh head, and which parts learn.

Modes:
  * head   — only the classifier learns; the backbone is frozen, so its pooled features are
             computed once (`pooled_features`) and the head trains on the cache.
  * last-N — the last N blocks, everything after them (final norm) and the classifier learn.
  * full   — everything learns.
Frozen parts are kept in eval mode, so BatchNorm statistics and dropout of a frozen backbone
behave exactly as at inference.
"""

from __future__ import annotations

import copy

import torch
from torch import nn

from vitdemo.errors import ModelSpecError, VitdemoError
from vitdemo.models.loaded import LoadedModel
from vitdemo.models.model_dir import build_network


def private_copy(model: LoadedModel) -> nn.Module:
    """A deep copy of the shared network, taken under its lock; the shared one is never touched."""
    if model.backend != "timm":
        raise VitdemoError(
            f"Fine-tuning works on timm models; {model.spec} is a transformers model. "
            "Pick its timm counterpart (e.g. timm:vit_base_patch16_224) or a demo model."
        )
    with model.lock:
        network = copy.deepcopy(model.network)
    return network.cpu()


def architecture_of(model: LoadedModel, network: nn.Module) -> tuple[str, dict]:
    """(timm_name, model_kwargs) that rebuild `network`: from the model card, else timm's config."""
    card = model.card or {}
    timm_name = card.get("timm_name") or getattr(network, "pretrained_cfg", {}).get("architecture")
    if not timm_name:
        raise VitdemoError(
            f"Cannot tell which timm architecture {model.spec} is, so a fine-tuned copy could not be saved."
        )
    kwargs = dict(card.get("model_kwargs") or {})
    kwargs.pop("num_classes", None)
    return timm_name, kwargs


def check_rebuildable(timm_name: str, kwargs: dict, labels: list[str], network: nn.Module) -> None:
    """Fail before training if (timm_name, kwargs) would not rebuild `network` when loading the run."""
    with torch.device("meta"):  # shapes only: no memory, no init cost
        rebuilt = build_network({"timm_name": timm_name, "model_kwargs": kwargs, "labels": labels})
    expected = {k: tuple(v.shape) for k, v in network.state_dict().items()}
    got = {k: tuple(v.shape) for k, v in rebuilt.state_dict().items()}
    if expected != got:
        raise ModelSpecError(
            f"timm '{timm_name}' with {kwargs} does not rebuild this network, so its runs could not be reloaded."
        )


def fresh_head(network: nn.Module, num_classes: int, generator: torch.Generator) -> nn.Module:
    """Replace the classifier with a new one for `num_classes`, initialised from `generator`."""
    network.reset_classifier(num_classes)
    head = network.get_classifier()
    for module in head.modules():
        if isinstance(module, nn.Linear):
            nn.init.trunc_normal_(module.weight, std=0.01, generator=generator)
            nn.init.zeros_(module.bias)
    return head


def _block_groups(network: nn.Module) -> list[tuple[str, list[nn.Module]]]:
    """Top-level children holding the network's blocks, in order: [(child name, its blocks)]."""
    if isinstance(getattr(network, "blocks", None), nn.Sequential | nn.ModuleList):  # ViT, DeiT
        return [("blocks", list(network.blocks))]
    layers = [name for name in ("layer1", "layer2", "layer3", "layer4") if hasattr(network, name)]
    if layers:  # ResNet
        return [(name, list(getattr(network, name))) for name in layers]
    if isinstance(getattr(network, "stages", None), nn.Sequential | nn.ModuleList):  # ConvNeXt, RegNet, ...
        blocks = [b for stage in network.stages for b in (getattr(stage, "blocks", None) or [stage])]
        return [("stages", blocks)]
    raise VitdemoError(
        f"{type(network).__name__} has no blocks we know how to unfreeze: use head or full mode."
    )


def count_blocks(network: nn.Module) -> int:
    """How many blocks last-N mode can choose from."""
    return sum(len(blocks) for _, blocks in _block_groups(network))


def trainable_modules(network: nn.Module, kind: str, last_n: int = 0) -> list[nn.Module]:
    """The modules that learn in a mode (see module docstring)."""
    if kind == "full":
        return [network]
    if kind == "head":
        return [network.get_classifier()]
    groups = _block_groups(network)
    blocks = [b for _, group in groups for b in group]
    if last_n > len(blocks):
        raise VitdemoError(
            f"This model has {len(blocks)} blocks, so last-{last_n} is impossible: use full mode."
        )
    names = [name for name, _ in network.named_children()]
    after = names[names.index(groups[-1][0]) + 1 :]  # final norm, pooling, head
    return blocks[-last_n:] + [getattr(network, name) for name in after]


def freeze_for_mode(network: nn.Module, kind: str, last_n: int = 0) -> list[nn.Parameter]:
    """Set requires_grad for a mode; returns the trainable parameters."""
    learning = trainable_modules(network, kind, last_n)
    network.requires_grad_(False)
    for module in learning:
        module.requires_grad_(True)
    return [p for p in network.parameters() if p.requires_grad]


def set_train_mode(network: nn.Module, kind: str, last_n: int = 0) -> None:
    """Training mode for the learning parts only; frozen parts behave as at inference."""
    network.eval()
    for module in trainable_modules(network, kind, last_n):
        module.train()


def trained_state_keys(network: nn.Module) -> list[str]:
    """State-dict keys that training can change: trainable parameters and their modules' buffers."""
    keys = {name for name, p in network.named_parameters() if p.requires_grad}
    for module_name, module in network.named_modules():
        if any(p.requires_grad for p in module.parameters(recurse=False)):
            prefix = f"{module_name}." if module_name else ""
            keys |= {prefix + name for name, _ in module.named_buffers(recurse=False)}
    return [k for k in network.state_dict() if k in keys]


def pooled_features(network: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """(B, 3, H, W) → (B, D): what the classifier sees (timm's forward_head with pre_logits)."""
    return network.forward_head(network.forward_features(x), pre_logits=True)
