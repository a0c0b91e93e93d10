"""Architectures of our own, registered with timm so that `timm.create_model(name)` builds them.

`vit_convstem_tiny_patch16_224` (demo-vit) is a plain timm `VisionTransformer` whose patch embedding
is a small convolutional stem (Xiao et al. 2021, "Early Convolutions Help Transformers See Better")
instead of one 16×16 linear projection: four 3×3 stride-2 convolutions (total stride 16), so the
token grid is 14×14 at 224 px, one token per 16×16 patch; each token's receptive field is 31×31 px
(about two patches wide). The transformer blocks, class token and attention are exactly a ViT's.

`vit_hybrid_tiny_r18s16_224` (demo-hybrid) is the ViT paper's hybrid (Dosovitskiy et al. 2021, §3.1):
the first three stages of the demo ResNet make the 14×14 tokens (each already sees ~100 px), then
transformer blocks with a class token: the same attention views, read on CNN features.

Both are built from timm's own parts (`ConvStem`, a `features_only` ResNet, `HybridEmbed`,
`VisionTransformer`), so nothing here is a new layer; timm registers neither at this small size,
hence this file.
"""

from __future__ import annotations

from functools import partial

import timm
from timm.data import IMAGENET_DEFAULT_MEAN, IMAGENET_DEFAULT_STD
from timm.layers import HybridEmbed
from timm.models import register_model
from timm.models.vision_transformer import VisionTransformer
from timm.models.vision_transformer_hybrid import ConvStem

CONVSTEM_VIT = "vit_convstem_tiny_patch16_224"
CONVSTEM_DEPTH = 4  # stride-2 convolutions in the stem: 2**4 = 16 px per token


def _conv_stem(embed_dim: int, in_chans: int = 3) -> ConvStem:
    # Widths double per stride-2 step and end at embed_dim (the stem's last conv is the projection).
    widths = tuple(embed_dim // 2**i for i in range(CONVSTEM_DEPTH - 1, -1, -1))
    return ConvStem(
        in_chans=in_chans,
        depth=CONVSTEM_DEPTH,
        channels=widths,
        kernel_size=3,
        stride=(2,) * CONVSTEM_DEPTH,
    )


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
