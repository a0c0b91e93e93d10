"""The demo models' architectures as plain data (timm name + kwargs), written into their model cards."""

from __future__ import annotations

from timm.data import IMAGENET_DEFAULT_MEAN, IMAGENET_DEFAULT_STD

from vitdemo.data.shapes import IMAGE_SIZE
from vitdemo.models.architectures import CONVSTEM_VIT, DEMO_RESNET_KWARGS, HYBRID_VIT

PREPROCESSING = {
    "input_size": [IMAGE_SIZE, IMAGE_SIZE],
    "mean": list(IMAGENET_DEFAULT_MEAN),
    "std": list(IMAGENET_DEFAULT_STD),
    "interpolation": "bilinear",
    "crop_pct": 1.0,
    "crop_mode": "squash",
}


VIT_PREPROCESSING = {**PREPROCESSING, "mean": [0.5] * 3, "std": [0.5] * 3, "interpolation": "bicubic"}


TRANSFORMER_KWARGS = {"embed_dim": 128, "depth": 6, "num_heads": 4, "mlp_ratio": 3.0}


ARCHS = {
    "vit": {
        "name": "demo-vit",
        "timm_name": CONVSTEM_VIT,
        "model_kwargs": TRANSFORMER_KWARGS,
        "family": "vit",
        "about": (
            "a ViT (6 layers × 4 heads, 128 wide, class token) whose 14×14 tokens are its 16×16-px"
            " image patches, each embedded by a small conv stem (four 3×3 stride-2 convolutions, Xiao"
            " et al. 2021; a 31×31-px window, about two patches) rather than one linear projection"
        ),
        "preprocessing": VIT_PREPROCESSING,
    },
    "hybrid": {
        "name": "demo-hybrid",
        "timm_name": HYBRID_VIT,
        "model_kwargs": TRANSFORMER_KWARGS,
        "family": "vit",
        "about": (
            "the ViT paper's hybrid (R+ViT): demo-resnet's first three stages (frozen) make its 14×14"
            " tokens, each already seeing about 100 px, then 6 transformer layers × 4 heads, 128 wide,"
            " with a class token"
        ),
        "preprocessing": PREPROCESSING,
    },
    # The plain ViT attempt (issue 11): timm's own ViT with the standard linear 16×16 patch embedding,
    # same size as demo-vit, mimetic attention init, distilled from demo-vit's logits and attention.
    "plainvit": {
        "name": "demo-plainvit",
        "timm_name": "vit_tiny_patch16_224",  # plain timm ViT; the kwargs shrink it to demo-vit's size
        "model_kwargs": TRANSFORMER_KWARGS,
        "family": "vit",
        "init": "mimetic",
        "about": (
            "a plain ViT (6 layers × 4 heads, 128 wide, class token): each 16×16-px patch becomes a"
            " token through one linear projection, as in the ViT paper"
        ),
        "preprocessing": VIT_PREPROCESSING,
    },
    "resnet": {
        "name": "demo-resnet",
        "timm_name": "resnet18",
        "model_kwargs": DEMO_RESNET_KWARGS,
        "family": "cnn",
        "about": "a ResNet-18-style network with one block per stage, 32 to 256 channels",
        "preprocessing": PREPROCESSING,
    },
}
