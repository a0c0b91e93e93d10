"""Every sentence the app uses to explain what is on screen, in one place.

A classroom tool lives or dies by its captions: each figure gets one sentence that says what it
shows and how to read it. Keeping them here lets pages stay thin and the wording stay consistent.
"""

from __future__ import annotations

from vitdemo.explain.methods import METHODS

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
    """Display name of an explanation map, from the method registry ("gradcam" → "Grad-CAM")."""
    method = METHODS.get(name)
    return method.title if method else name.replace("_", " ").title()


def method_sentence(name: str) -> str:
    """The classroom sentence of a map, from the method registry; empty for unknown names."""
    method = METHODS.get(name)
    return method.sentence if method else ""


def method_reference(name: str) -> str:
    """The technical line and paper of a map, for the About page."""
    method = METHODS.get(name)
    return f"{method.description} ({method.paper})" if method else ""


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
