"""Tiny models wrapped as `LoadedModel`s for the explain tests (built directly: no zoo, no files)."""

from __future__ import annotations

import numpy as np
import timm
import torch

from vitdemo.models.loaded import LoadedModel, Preprocessing, VitGeometry

LABELS5 = ["ant", "bee", "cat", "dog", "eel"]


def preprocessing(size: tuple[int, int], mean: float = 0.5, std: float = 0.5) -> Preprocessing:
    return Preprocessing(
        input_size=size, mean=(mean,) * 3, std=(std,) * 3, interpolation="bilinear", crop_mode="squash"
    )


def timm_vit(
    *,
    img_size: tuple[int, int] = (32, 32),
    name: str = "vit_tiny_patch16_224",
    labels: list[str] = LABELS5,
    seed: int = 0,
    prep: Preprocessing | None = None,
    **kwargs,
) -> LoadedModel:
    """A 2-block timm ViT with 8-px patches (kwargs go to timm.create_model)."""
    torch.manual_seed(seed)
    options = {"patch_size": 8, "embed_dim": 32, "depth": 2, "num_heads": 4, **kwargs}
    network = timm.create_model(
        name, pretrained=False, img_size=img_size, num_classes=len(labels), **options
    ).eval()
    rows, cols = network.patch_embed.grid_size
    geometry = VitGeometry(
        grid_size=(rows, cols),
        patch_size=(img_size[0] // rows, img_size[1] // cols),
        num_prefix_tokens=network.num_prefix_tokens,
        has_class_token=network.cls_token is not None,
    )
    return LoadedModel(
        spec=f"test:{name}",
        network=network,
        preprocessing=prep or preprocessing(img_size),
        labels=list(labels),
        family="vit",
        backend="timm",
        geometry=geometry,
        source="random init",
    )


def hf_vit(*, img_size: int = 32, patch: int = 8, seed: int = 0) -> LoadedModel:
    """A 2-layer HF ViTForImageClassification with eager attention."""
    from transformers import ViTConfig, ViTForImageClassification

    torch.manual_seed(seed)
    config = ViTConfig(
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=4,
        intermediate_size=64,
        image_size=img_size,
        patch_size=patch,
        num_labels=len(LABELS5),
    )
    network = ViTForImageClassification._from_config(config, attn_implementation="eager").eval()
    grid = img_size // patch
    return LoadedModel(
        spec="test:hf-vit",
        network=network,
        preprocessing=preprocessing((img_size, img_size)),
        labels=list(LABELS5),
        family="vit",
        backend="hf",
        geometry=VitGeometry((grid, grid), (patch, patch), 1, True),
        source="random init",
    )


def small_resnet(*, size: int = 64, seed: int = 0, channels=(8, 16, 24, 32)) -> LoadedModel:
    """A timm ResNet with one BasicBlock per stage and few channels (Score-CAM stays cheap)."""
    from timm.models.resnet import BasicBlock, ResNet

    torch.manual_seed(seed)
    network = ResNet(
        block=BasicBlock, layers=(1, 1, 1, 1), channels=channels, stem_width=8, num_classes=len(LABELS5)
    )
    with torch.no_grad():  # untrained BatchNorm statistics would make every map degenerate
        for module in network.modules():
            if isinstance(module, torch.nn.BatchNorm2d):
                module.weight.uniform_(0.5, 1.5)
                module.bias.uniform_(-0.2, 0.2)
    return LoadedModel(
        spec="test:resnet",
        network=network.eval(),
        preprocessing=preprocessing((size, size)),
        labels=list(LABELS5),
        family="cnn",
        backend="timm",
        geometry=None,
        source="random init",
    )


def random_image(seed: int, size: tuple[int, int] = (40, 48)) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (*size, 3), dtype=np.uint8)


def input_tensor(model: LoadedModel, image: np.ndarray) -> torch.Tensor:
    """The exact batch `explain` feeds the network for `image`."""
    from PIL import Image

    view = model.preprocessing.view(Image.fromarray(image))
    return model.preprocessing.normalise(np.array(view))[None]


def hook_counts(module: torch.nn.Module) -> int:
    """All module hooks of any kind on `module` and its children."""
    total = 0
    for m in module.modules():
        for name in ("_forward_hooks", "_forward_pre_hooks", "_backward_hooks", "_backward_pre_hooks"):
            total += len(getattr(m, name, {}))
    return total


def grad_flags(module: torch.nn.Module) -> dict[str, bool]:
    return {name: p.requires_grad for name, p in module.named_parameters()}


# A ViT whose attention we control (see controlled_vit): every map must peak on the bright patch.
SIGNAL = 2.0  # query/key/value gain: the bright patch takes nearly all the attention
QUERY_BIAS = 4.0


def controlled_vit(img_size: tuple[int, int], **kwargs) -> LoadedModel:
    """A ViT with hand-set weights whose attention we control.

    A patch's brightness goes to channel 0, the class token lives on channel 1, distillation and
    register tokens on channel 3. Keys and values read (channel 0 − channel 1) after the norm, so
    only the bright patch has a positive key and value; queries carry a positive bias (plus
    channel 1 − channel 0), so the class token — and every dark patch — attends to the bright
    patch. Its value reaches the class token's channel 2, which class 0 ("bright") reads with a
    positive weight. Every map must therefore peak on that patch.
    """
    model = timm_vit(
        img_size=img_size,
        prep=preprocessing(img_size, mean=0.0, std=1.0),  # black pixel → exactly 0
        embed_dim=16,
        num_heads=2,
        labels=["bright", "dark"],
        **kwargs,
    )
    net = model.network
    dim, head_dim = 16, 8
    with torch.no_grad():
        for p in net.parameters():
            p.zero_()
        for m in net.modules():
            if isinstance(m, torch.nn.LayerNorm):
                m.weight.fill_(1.0)
        net.patch_embed.proj.weight[0].fill_(1.0)  # patch brightness → channel 0
        if net.cls_token is not None:
            net.cls_token[..., 1] = 1.0
        for extra in ("dist_token", "reg_token"):
            if getattr(net, extra, None) is not None:
                getattr(net, extra)[..., 3] = 1.0
        for blk in net.blocks:
            qkv_w, qkv_b = blk.attn.qkv.weight, blk.attn.qkv.bias
            for head in range(2):
                q, k, v = head * head_dim, dim + head * head_dim, 2 * dim + head * head_dim
                qkv_w[q, 0], qkv_w[q, 1], qkv_b[q] = -SIGNAL, SIGNAL, QUERY_BIAS
                qkv_w[k, 0], qkv_w[k, 1] = SIGNAL, -SIGNAL
                qkv_w[v, 0], qkv_w[v, 1] = 1.0, -1.0
                blk.attn.proj.weight[2, head * head_dim] = 1.0  # value → channel 2
        net.head.weight[0, 2], net.head.weight[1, 2] = 1.0, -1.0
        if getattr(net, "head_dist", None) is not None:
            net.head_dist.weight.copy_(net.head.weight)
    return model


def image_with_bright_patch(
    size: tuple[int, int], patch: tuple[int, int], cell: tuple[int, int]
) -> np.ndarray:
    image = np.zeros((*size, 3), dtype=np.uint8)
    row, col = cell
    image[row * patch[0] : (row + 1) * patch[0], col * patch[1] : (col + 1) * patch[1]] = 255
    return image
