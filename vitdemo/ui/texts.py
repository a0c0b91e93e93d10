"""Every sentence the app uses to explain what is on screen, in one place.

A classroom tool lives or dies by its captions: each figure gets one sentence that says what it
shows and how to read it. Keeping them here lets pages stay thin and the wording stay consistent.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class MethodText:
    """How one explanation map is named and explained."""

    title: str  # short name shown above a tile
    sentence: str  # one sentence: what the map shows and how to read it
    families: tuple[str, ...]  # model families the map exists for ("vit", "cnn")


METHOD_TEXTS: dict[str, MethodText] = {
    "cls": MethodText(
        "CLS attention",
        "Where the class token looks in the last layer (mean over heads): the patches it reads "
        "right before the prediction.",
        ("vit",),
    ),
    "rollout": MethodText(
        "Attention rollout",
        "Attention multiplied through every layer, skip connections included: how much each patch "
        "flows into the class token overall, whatever the class.",
        ("vit",),
    ),
    "relevance": MethodText(
        "Gradient relevance",
        "Attention weighted by its gradient for the chosen class and propagated through the layers: "
        "only attention that supports this class survives.",
        ("vit",),
    ),
    "gradcam": MethodText(
        "Grad-CAM",
        "A late feature map weighted by how much each channel raises the chosen class's score: "
        "warm regions push the prediction towards that class.",
        ("vit", "cnn"),
    ),
    "gradcam++": MethodText(
        "Grad-CAM++",
        "Grad-CAM with pixel-wise weights, which spreads credit over several instances of an object "
        "instead of the single strongest one.",
        ("vit", "cnn"),
    ),
    "layercam": MethodText(
        "LayerCAM",
        "Keeps only positive gradients at each position: sharper maps that also work on earlier layers.",
        ("vit", "cnn"),
    ),
    "eigencam": MethodText(
        "EigenCAM",
        "The main direction of the feature map (its first principal component), with no gradient: "
        "what the layer finds salient, not tied to one class.",
        ("vit", "cnn"),
    ),
    "hirescam": MethodText(
        "HiResCAM",
        "Multiplies gradients and activations element-wise before summing: faithful to the model "
        "at the cost of noisier maps.",
        ("vit", "cnn"),
    ),
    "scorecam": MethodText(
        "Score-CAM",
        "Masks the image with each channel and measures the class score directly; no gradients, "
        "but one forward pass per channel (slow).",
        ("vit", "cnn"),
    ),
}

FAMILY_NAMES = {"vit": "Vision Transformer", "cnn": "convolutional network (ResNet)"}
CAM_LAYER_TEXT = {
    "vit": (
        "Target layer: the chosen block's first LayerNorm, with its patch tokens laid back on the grid "
        "(the class token has no place on the image)."
    ),
    "cnn": "Target layer: the output of the chosen stage; the last one (layer4) is the usual choice.",
}
CAM_LAYER_DEPTH_TEXT = (
    "Earlier layers respond to simple local patterns (edges, colours, textures) and later layers to "
    "whole object parts tied to the chosen class; a ResNet's earlier stages also give sharper maps, "
    "while every block of a ViT keeps the same patch grid."
)

PAGE_INTROS: dict[str, str] = {
    "explore": (
        "Pick images in the sidebar, then compare what each model predicts and where it looks. "
        "Warm colours mark the pixels a method credits most for the chosen class."
    ),
    "attention": (
        "A Vision Transformer cuts the image into patches and lets every patch attend to every other "
        "one, in every layer and head. The grid shows them all at once; pick one to enlarge it."
    ),
    "gradcam": (
        "Class activation maps ask one layer (by default a late one) which positions raised the chosen "
        "class's score. They work for both ResNets and ViTs, so the two families can be compared side by side."
    ),
    "compare": (
        "Every chosen image against every chosen model in one table: the top prediction and its "
        "explanation map, to spot where the models agree and where they look at different things."
    ),
    "models": (
        "What each model is, where its weights come from, whether it works offline, and how the "
        "explanation methods work."
    ),
}

TOP_K_CAPTION = (
    "The model's three most likely classes; bar length is the predicted probability (softmax), "
    "so the bars of all classes add up to 100%."
)
ATTENTION_GRID_CAPTION = (
    "Rows are layers (input at the top), columns are heads. Each tile shows how strongly the "
    "chosen query token attends to every image patch in that layer and head."
)
SCALED_COLOUR_HELP = (
    "Scaled: each tile uses its own colour range, so every head's pattern is visible. "
    "Raw: all tiles share one range, so you see which heads attend sharply and which spread out."
)
HEAD_FUSION_HELP = (
    "How the heads of a layer are combined before multiplying layers: mean keeps everything, "
    "max follows the most confident head, min keeps what all heads agree on."
)
DISCARD_RATIO_HELP = (
    "Share of the weakest attention links dropped in each layer before multiplying: higher values "
    "remove background noise and sharpen the map."
)
QUERY_HELP = (
    "Whose attention to show: the class token (what the prediction is built from) or one image "
    "patch (what that patch looks at)."
)
POSITION_CAPTION = (
    "Each small tile belongs to one patch position and shows how similar its learned position "
    "embedding is to every other position's (cosine similarity). A trained ViT rediscovers the 2-D "
    "layout: bright blobs around each tile's own place, stripes along its row and column. An "
    "untrained one shows noise with a single dot: each position resembles only itself."
)
FAITHFULNESS_HELP = (
    "Faithfulness: pixels are deleted (or revealed on a blurred copy) in the order the map ranks "
    "them, and the class probability is tracked. Deletion: area under that curve, lower is better "
    "(the probability falls fast). Insertion: higher is better (it rises fast)."
)
MASK_SCORE_HELP = (
    "For Shapes images the true outline is known: the share of the map's mass on the shape, and "
    "whether the map's hottest pixel lies on it (the pointing game)."
)
VIT_EXPLAINER = """
**How a Vision Transformer reads an image.**
The image is cut into square **patches** (for example 16 × 16 pixels), and each patch becomes a
vector (in the original ViT through one linear projection), like a word in a sentence. A learned
**position embedding** is added to each patch so the
model knows where it came from. Many ViTs add one extra **class token (CLS)** in front: it carries
no pixels and gathers information from all patches; the prediction is read from it at the end.
Every **layer** lets every token look at every other token through **attention**, in several
**heads** at once; each head learns its own way of looking (neighbours, colours, the object, ...).

**The bundled models.** `demo-vit`'s tokens are its 14 × 14 patches of 16 × 16 pixels, but each
patch vector is made by a small **conv stem** (four 3 × 3 convolutions of stride 2, Xiao et al.
2021) instead of one linear projection, so each token sees a 31 × 31-pixel window, about two
patches: small ViTs learn far faster this way. `demo-hybrid` is the ViT paper's **hybrid**: its
tokens are demo-resnet's stage-3 feature-map cells (each already sees about 100 pixels), read by the
same kind of transformer. Comparing demo-vit, demo-hybrid and demo-resnet on one image is the ViT
paper's own comparison.

**How a ResNet reads an image.** A stack of convolutions slides small filters over the image;
each layer sees a wider region, and the last feature map is pooled into the prediction.
Class activation maps (Grad-CAM and its family) read that last feature map.
"""
STATUS_TEXT = {
    "bundled": "offline (ships with vitdemo)",
    "cached": "offline (in the local cache)",
    "download": "download once",
    "missing": "missing here",
}
FETCH_HELP = (
    "Pretrained models need their weights once: run `python -m vitdemo fetch NAME` on a machine "
    "with internet access (it fills the local Hugging Face cache), then the app works offline."
)


def method_title(name: str) -> str:
    """Display name of an explanation map ("gradcam" → "Grad-CAM"); unknown names are title-cased."""
    text = METHOD_TEXTS.get(name)
    return text.title if text else name.replace("_", " ").title()


def method_sentence(name: str) -> str:
    """The one-sentence explanation of a map; an empty string for names we have no text for."""
    text = METHOD_TEXTS.get(name)
    return text.sentence if text else ""


def cam_layer_title(name: str, choices: list[str]) -> str:
    """A Grad-CAM layer as a picker shows it: "block 0 (nearest the input)", "layer4 (last, the default)"."""
    title = name.replace(":", " ")
    if name == choices[-1]:
        return f"{title} (last, the default)"
    if name == choices[0]:
        return f"{title} (nearest the input)"
    return title


def short_label(label: str, limit: int = 28) -> str:
    """A class name short enough for an axis: ImageNet's "tench, Tinca tinca" becomes "tench"."""
    first = label.split(",")[0].strip() or label
    return first if len(first) <= limit else first[: limit - 1] + "…"
