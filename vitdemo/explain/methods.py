"""The catalogue of explanation maps: names, which family offers them, what they cost.

Plain data, so the app, the CLI and `explain` agree on names and defaults.
"""

from __future__ import annotations

from collections.abc import Iterable

from vitdemo.errors import VitdemoError

ATTENTION_METHODS = ("cls", "rollout", "relevance")  # need a ViT's attention
CAM_METHODS = ("gradcam", "gradcam++", "hirescam", "layercam", "eigencam", "scorecam")  # pytorch-grad-cam
ALL_METHODS = ATTENTION_METHODS + CAM_METHODS

# What `explain` computes when the caller does not say: everything that costs no extra forward pass.
DEFAULT_METHODS = {
    "vit": ("cls", "rollout", "relevance", "gradcam"),
    "cnn": ("gradcam", "gradcam++", "hirescam", "layercam", "eigencam"),
}

# Methods that need the gradient of the target score (one backward pass, shared by all of them).
GRADIENT_METHODS = frozenset({"relevance", "gradcam", "gradcam++", "hirescam", "layercam"})

DESCRIPTIONS = {
    "cls": "Attention of the class token to each patch (one layer; heads averaged or one head).",
    "rollout": "Attention rollout (Abnar & Zuidema 2020): attention multiplied through all layers.",
    "relevance": "Gradient-weighted attention relevance (Chefer et al. 2021): class-specific rollout.",
    "gradcam": "Grad-CAM: activations weighted by the mean gradient of the class score.",
    "gradcam++": "Grad-CAM++: like Grad-CAM, with higher-order gradient weights.",
    "hirescam": "HiResCAM: element-wise gradient × activation, faithful to the model's score.",
    "layercam": "LayerCAM: positive gradients × activations, location by location.",
    "eigencam": "EigenCAM: first principal component of the activations (class-agnostic).",
    "scorecam": "Score-CAM: each channel scored by a forward pass on the masked image (slow).",
}


def resolve_methods(family: str, methods: Iterable[str] | None) -> tuple[str, ...]:
    """Validate the requested map names (case-insensitive), in request order, without duplicates.

    Args:
        family: "vit" or "cnn"; picks the defaults when `methods` is None.
        methods: names from `ALL_METHODS`, or None for `DEFAULT_METHODS[family]`.

    Raises:
        VitdemoError: for a name that is not a known method.
    """
    if methods is None:
        return DEFAULT_METHODS[family]
    if isinstance(methods, str):
        methods = [methods]
    wanted: list[str] = []
    for name in methods:
        key = str(name).strip().lower().replace("_", "").replace("-", "").replace("plusplus", "++")
        key = {"gradcampp": "gradcam++", "cls_attention": "cls", "clsattention": "cls"}.get(key, key)
        if key not in ALL_METHODS:
            raise VitdemoError(
                f"'{name}' is not an explanation method; choose from {', '.join(ALL_METHODS)}."
            )
        if key not in wanted:
            wanted.append(key)
    return tuple(wanted)
