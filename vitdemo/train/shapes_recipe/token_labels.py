"""Token labelling (Jiang et al. 2021): an auxiliary per-cell head and its soft cross-entropy.

The head predicts, for every patch token (ViT) or feature-map cell (ResNet), the share of the
cell covered by the object and its class; it is dropped at export (plain timm models).
"""

from __future__ import annotations

import math

import timm
import torch
import torch.nn.functional as F

from vitdemo.data.shapes import SHAPE_CLASSES
from vitdemo.train.shapes_recipe.archs import ARCHS
from vitdemo.train.shapes_recipe.distillation import LastBlockInput, cls_attention
from vitdemo.train.shapes_recipe.mimetic_init import mimetic_init


class TokenLabelled(torch.nn.Module):
    """A timm classifier plus a per-cell head: logits (B, C) and dense logits (B, C + 1, g, g)."""

    def __init__(self, arch: str, freeze_stem: bool = False, attention: bool = False):
        super().__init__()
        spec = ARCHS[arch]
        self.arch = arch
        self.freeze_stem = freeze_stem
        # Training-time only: a ViT that accepts any input size (position embeddings resampled per
        # call), so it can learn at low resolution first. Same parameters, so the exported model is a
        # plain fixed-size timm ViT.
        extra = {"dynamic_img_size": True} if spec["family"] == "vit" else {}
        self.net = timm.create_model(
            spec["timm_name"],
            pretrained=False,
            num_classes=len(SHAPE_CLASSES),
            **spec["model_kwargs"],
            **extra,
        )
        width = self.net.num_features
        self.dense = torch.nn.Linear(width, len(SHAPE_CLASSES) + 1)  # + background
        if freeze_stem:
            self.stem.requires_grad_(False)
        if spec.get("init") == "mimetic":
            mimetic_init(self.net)
        # the student's last-layer CLS attention, for attention distillation
        self.last_block_input = LastBlockInput(self.net) if attention else None

    @property
    def stem(self) -> torch.nn.Module:
        """The hybrid ViT's ResNet stages (conv1..layer3)."""
        return self.net.patch_embed.backbone

    def train(self, mode: bool = True):
        super().train(mode)
        if self.freeze_stem:  # frozen means its batch-norm statistics too
            self.stem.eval()
        return self

    def forward(self, x: torch.Tensor):
        """Logits (B, C), dense logits (B, C + 1, g, g), and the CLS attention (B, g, g) or None."""
        feats = self.net.forward_features(x)
        logits = self.net.forward_head(feats)
        cls_attn = None
        if ARCHS[self.arch]["family"] == "vit":
            prefix = self.net.num_prefix_tokens
            tokens = feats[:, prefix:]  # (B, g*g, D)
            g = math.isqrt(tokens.shape[1])  # the grid of this call's input size
            dense = self.dense(tokens).transpose(1, 2).reshape(x.shape[0], -1, g, g)
            if self.last_block_input is not None:
                last = self.net.blocks[-1].attn
                cls_attn = cls_attention(last, self.last_block_input.tokens, prefix).reshape(-1, g, g)
        else:
            dense = self.dense(feats.permute(0, 2, 3, 1)).permute(0, 3, 1, 2)  # (B, C+1, 7, 7)
        return logits, dense, cls_attn


def token_label_loss(dense: torch.Tensor, labels: torch.Tensor, cover: torch.Tensor) -> torch.Tensor:
    """Soft cross-entropy per cell: `cover` of the object's class, the rest background."""
    g = dense.shape[-1]
    if cover.shape[-1] != g:  # the ResNet's coarser grid (and smaller still at low resolution)
        cover = F.adaptive_avg_pool2d(cover[:, None], g)[:, 0]
    n_cls = dense.shape[1] - 1
    target = torch.zeros_like(dense)
    target[:, n_cls] = 1 - cover
    target.scatter_(1, labels.view(-1, 1, 1, 1).expand(-1, 1, g, g), cover[:, None])
    return -(target * dense.log_softmax(1)).sum(1).mean()
