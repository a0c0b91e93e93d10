"""Architectures of our own, registered with timm so that `timm.create_model(name)` builds them.

`vit_hybrid_tiny_r18s16_224` (demo-vit) is a hybrid ViT (Dosovitskiy et al. 2021, §3.1): the first
three stages of the demo ResNet make the 14×14 tokens, then transformer blocks with a class token.
Trained on top of a trained demo-resnet's stages (frozen), it learns the Shapes task in minutes on a
2-core CPU, where pure ViTs need hours (see `vitdemo.train.shapes`).

It is built from timm's own parts (a `features_only` ResNet, `HybridEmbed`, `VisionTransformer`), so
nothing here is a new layer; timm has no registered hybrid this small, hence this file.
"""

from __future__ import annotations

from functools import partial

import timm
from timm.data import IMAGENET_DEFAULT_MEAN, IMAGENET_DEFAULT_STD
from timm.layers import HybridEmbed
from timm.models import register_model
from timm.models.vision_transformer import VisionTransformer

# The demo ResNet's layout (timm resnet18 family, one block per stage, 32..256 channels); the hybrid
# ViT's stem is its first three stages, so a trained demo-resnet's weights load into it key for key.
DEMO_RESNET_KWARGS = {"layers": [1, 1, 1, 1], "channels": [32, 64, 128, 256]}
HYBRID_VIT = "vit_hybrid_tiny_r18s16_224"


@register_model
def vit_hybrid_tiny_r18s16_224(pretrained: bool = False, **kwargs) -> VisionTransformer:
    """Hybrid ViT (Dosovitskiy et al. 2021, §3.1): ResNet stages to stride 16 make the 14×14 tokens.

    Like timm's `vit_*_r26_s32` / R50+ViT-B/16 hybrids, with the small demo ResNet as the backbone:
    `timm.create_model("resnet18", features_only=True, out_indices=(3,))` keeps conv1..layer3 under
    their own names (128 channels at stride 16 = the embedding width, so no projection).
    """
    if pretrained:
        raise ValueError(f"{HYBRID_VIT} has no pretrained weights.")
    for key in ("pretrained_cfg", "pretrained_cfg_overlay", "cache_dir"):  # passed by create_model
        kwargs.pop(key, None)
    backbone = timm.create_model(
        "resnet18",
        features_only=True,
        out_indices=(3,),
        in_chans=kwargs.get("in_chans", 3),
        **DEMO_RESNET_KWARGS,
    )
    width = backbone.feature_info.channels()[-1]
    args = {"embed_dim": width, "depth": 6, "num_heads": 4, **kwargs}
    embed_layer = partial(HybridEmbed, backbone=backbone, proj=args["embed_dim"] != width)
    model = VisionTransformer(embed_layer=embed_layer, patch_size=1, **args)
    model.pretrained_cfg = model.default_cfg = {
        "input_size": (3, 224, 224),
        "mean": IMAGENET_DEFAULT_MEAN,  # the ResNet's normalisation: its stages read the pixels
        "std": IMAGENET_DEFAULT_STD,
        "interpolation": "bilinear",
        "crop_pct": 1.0,
        "num_classes": model.num_classes,
        "first_conv": "patch_embed.backbone.conv1",
        "classifier": "head",
    }
    return model
