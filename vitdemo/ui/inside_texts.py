"""Sentences for "Inside the ViT": fixed explanations, and summaries written from the model's own numbers.

The summaries read the measured values (never a description of one particular bundled model), so
they stay true when a model is retrained or swapped.
"""

from __future__ import annotations

import numpy as np

from vitdemo.explain.analyses import TokenNorms
from vitdemo.models.loaded import VitGeometry

GLOBAL_SHARE = 0.8  # a head counts as global when it looks at least this far, relative to uniform attention
LOCAL_SHARE = 0.4  # ... and as local below this share

INTRO = (
    "The analyses of the ViT paper (Dosovitskiy et al. 2021, Fig. 7) and two more views into the "
    "network, for the chosen model and image. Distance, entropy and filters come from what is already "
    "computed; the logit lens and token norms take one more pass through the model."
)
DISTANCE_TEXT = (
    "**Mean attention distance** — for every patch, how far away (in pixels of the network's input) "
    "the patches it attends to lie, averaged over patches; one dot per head. **Local** heads (low dots) "
    "look at their neighbours, as a convolution would; **global** heads (near the dashed line: attention "
    "spread evenly over the image) integrate the whole image. The ViT paper found both kinds already in "
    "the first layers of a ViT trained on enough data, and only global heads deep in the network. "
    "Class and other extra tokens have no place on the image: they are left out, and each patch's "
    "attention is renormalised over the patches."
)
ENTROPY_TEXT = (
    "**Attention entropy** — how spread each head's attention is: 0 when every patch looks at exactly "
    "one patch, the dashed line when it looks at all of them equally. A head can be far-reaching but "
    "focused (high distance, low entropy): it looks at one distant place."
)
FILTER_TEXTS = {
    "principal components": (
        "**Principal components of the patch embedding** — the patterns along which the filters "
        "of the linear patch projection (`{layer}`, {kh}×{kw} px) vary most, as in the ViT paper's Fig. 7 "
        "(left). They resemble a CNN's first-layer filters: edges, stripes and colour blobs."
    ),
    "first-layer filters": (
        "**First-layer filters** — this model's tokens do not come from a linear patch projection but "
        "from a convolutional stem, so these are that stem's first convolution's own filters "
        "(`{layer}`, {kh}×{kw} px, stride {stride}): what sees the pixels first."
    ),
    "cnn": (
        "**First-layer filters** — the first convolution of this CNN (`{layer}`, {kh}×{kw} px, stride "
        "{stride}), each filter shown as an RGB patch: what sees the pixels first. A ViT's linear patch "
        "embedding plays the same role; its principal components look much alike."
    ),
}
LENS_TEXT = (
    "**Logit lens** — the tokens after each block, sent straight through the model's own final norm "
    "and classifier head: what the model would answer if it stopped there. The last row is the "
    "model's real output. The layer where the answer settles tells how early the model knows."
)
NORMS_TEXT = (
    "**Token norms** — the size of every patch token after the chosen block. Large pretrained ViTs "
    "store global information in a few background patches whose norm towers over the rest (Darcet et "
    "al. 2023, *Vision Transformers Need Registers*); register models (`timm:vit_*_reg4*`) move it to "
    "their register tokens."
)
CNN_TEXT = (
    "A ResNet has no attention and no token sequence: mean attention distance, entropy, the logit "
    "lens and token norms apply to Vision Transformers only (a ResNet's stages have different widths, "
    "so its classifier cannot read the earlier ones). What applies is its first layer's filters, below."
)


def distance_summary(distance: np.ndarray, uniform: float) -> str:
    """What the distance plot shows for this model, from its numbers (first and last layer)."""
    first, last = distance[0], distance[-1]
    global_first = int((first >= GLOBAL_SHARE * uniform).sum())
    local_first = int((first < LOCAL_SHARE * uniform).sum())
    heads = distance.shape[1]
    parts = [
        f"In layer 1 the heads look {first.min():.0f}–{first.max():.0f} px away "
        f"({local_first} of {heads} local, {global_first} of {heads} already global; "
        f"uniform attention would be {uniform:.0f} px)."
    ]
    parts.append(
        f"In the last layer ({distance.shape[0]}) they look {last.min():.0f}–{last.max():.0f} px away."
    )
    if global_first == heads:
        parts.append(
            "Every head is global from the first layer on: the tokens already carry local detail "
            "(for example from a convolutional stem), so attention need not build it."
        )
    elif local_first and last.min() >= GLOBAL_SHARE * uniform:
        parts.append("Local heads early, only global ones late: the pattern of the ViT paper.")
    return " ".join(parts)


def entropy_summary(entropy: np.ndarray, maximum: float) -> str:
    """How focused the heads are, first and last layer, relative to uniform attention."""
    first, last = entropy[0].mean() / maximum, entropy[-1].mean() / maximum
    return (
        f"Mean entropy is {first:.0%} of uniform in layer 1 and {last:.0%} in the last layer "
        f"(uniform over {np.exp(maximum):.0f} patches = {maximum:.2f} nats)."
    )


def lens_summary(layer: int | None, label: str, layers: int) -> str:
    """ "The final class ranks first from layer k on" (1-based), in words."""
    if layer is None:
        return f"The logit lens's last layer does not pick {label}."
    if layer == 0:
        return f"**{label}** ranks first from layer 1 on: the answer is readable right after the first block."
    return f"**{label}** ranks first from layer {layer + 1} of {layers} on; before that other classes lead."


def norms_summary(norms: TokenNorms, layer: int) -> str:
    """Outlier patches in one layer (more than twice the median norm), in words."""
    share = norms.outlier_share(layer)
    patches = norms.patches[layer]
    count = round(share * patches.numel())
    median = float(patches.median())
    if count == 0:
        return (
            f"Layer {layer + 1}: no patch exceeds twice the median norm ({median:.1f}); "
            "no high-norm artifact tokens here."
        )
    return (
        f"Layer {layer + 1}: {count} patch(es) ({share:.0%}) exceed twice the median norm ({median:.1f}); "
        f"the largest is {float(patches.max()):.1f}. Hover to see where they sit."
    )


def prefix_names(geometry: VitGeometry) -> list[str]:
    """Display names of the prefix tokens, from the geometry (class token first when there is one)."""
    names = []
    for i in range(geometry.num_prefix_tokens):
        names.append("class token" if i == 0 and geometry.has_class_token else f"extra token {i + 1}")
    return names
