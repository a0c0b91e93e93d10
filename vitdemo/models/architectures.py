"""Architectures of our own, registered with timm so that `timm.create_model(name)` builds them.

`vit_convstem_tiny_patch16_224` is a plain timm `VisionTransformer` whose patch embedding is a
small convolutional stem (Xiao et al. 2021, "Early Convolutions Help Transformers See Better")
instead of one 16×16 linear projection: four 3×3 stride-2 convolutions (total stride 16), so the
token grid is still 14×14 at 224 px, one token per 16×16 patch, and the transformer blocks, class
token and attention are exactly those of a ViT. The stem is what lets the demo ViT learn the Shapes
task from scratch on a 2-core CPU: a plain patch-16 ViT was still at 44 % after 150k images.

The stem is built from timm's own parts (`ConvStem`, `HybridEmbed`), so nothing here is a new layer;
timm has no registered small conv-stem ViT with a 14×14 grid, hence this file.
"""

from __future__ import annotations

from functools import partial

from timm.layers import HybridEmbed
from timm.models import register_model
from timm.models.vision_transformer import VisionTransformer
from timm.models.vision_transformer_hybrid import ConvStem

CONVSTEM_VIT = "vit_convstem_tiny_patch16_224"


def _conv_stem(embed_dim: int, in_chans: int = 3) -> ConvStem:
    # Widths double per stride-2 step and end at embed_dim (the stem's last conv is the projection).
    widths = tuple(embed_dim // 2**i for i in range(3, -1, -1))
    return ConvStem(in_chans=in_chans, depth=4, channels=widths, kernel_size=3, stride=(2, 2, 2, 2))


@register_model
def vit_convstem_tiny_patch16_224(pretrained: bool = False, **kwargs) -> VisionTransformer:
    """ViT with a 4-conv stem (stride 16, 14×14 tokens at 224 px). No pretrained weights exist."""
    if pretrained:
        raise ValueError(f"{CONVSTEM_VIT} has no pretrained weights.")
    for key in ("pretrained_cfg", "pretrained_cfg_overlay", "cache_dir"):  # passed by create_model
        kwargs.pop(key, None)
    args = {"embed_dim": 192, "depth": 12, "num_heads": 3, **kwargs}
    embed_layer = partial(
        HybridEmbed, backbone=_conv_stem(args["embed_dim"], kwargs.get("in_chans", 3)), proj=False
    )
    model = VisionTransformer(embed_layer=embed_layer, patch_size=1, **args)
    # What create_model would attach from a registered config; resolve_model_data_config reads it.
    model.pretrained_cfg = model.default_cfg = {
        "input_size": (3, 224, 224),
        "mean": (0.5, 0.5, 0.5),
        "std": (0.5, 0.5, 0.5),
        "interpolation": "bicubic",
        "crop_pct": 1.0,
        "num_classes": model.num_classes,
        "first_conv": "patch_embed.backbone.0.conv",
        "classifier": "head",
    }
    return model
