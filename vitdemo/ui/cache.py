"""What the app computes once and reuses: models per process, explanations per input and settings.

* Models: `st.cache_resource` keyed by the spec string — one shared, read-only `LoadedModel` per
  process, whatever the number of tabs (the explain code is thread-safe on shared models).
* Explanations: `st.cache_resource` keyed by (model spec, image digest, target class, methods,
  map settings — the Grad-CAM layer `cam_layer` included). The image itself is passed unhashed (`_image`): the digest already names it.
  Results are shared between sessions (a class opening the same gallery image computes it once)
  and must be treated as read-only.
* Everything a slider changes afterwards (layer, head, query token, head fusion, colour scale) is
  computed from the cached attentions by pure functions — the model never runs for a slider.
"""

from __future__ import annotations

import streamlit as st
from PIL import Image

from vitdemo.data.images import load_image
from vitdemo.errors import BadImageError
from vitdemo.explain import explain
from vitdemo.explain.faithfulness import align_mask, deletion_insertion_curves, energy_in_mask, pointing_game
from vitdemo.explain.result import ExplainResult
from vitdemo.models import LoadedModel, load_model
from vitdemo.ui.image_items import DecodedImage, SessionImage

# Explore, Attention and Compare ask for the same maps, so one explanation per (model, image,
# class) serves all three pages: switching pages recomputes nothing.
STANDARD_METHODS = ("cls", "rollout", "relevance", "gradcam")
# Explanations of a ViT-B hold ~22 MB of attention each: enough entries for a class's images,
# few enough for a 16 GB Space.
MAX_CACHED_EXPLANATIONS = 96
EXPLANATION_TTL_S = 2 * 3600


@st.cache_resource(show_spinner="Loading the model (once per server)…", max_entries=8)
def cached_model(spec: str) -> LoadedModel:
    """The shared model for `spec`; raises `VitdemoError` (not cached) when it cannot load."""
    return load_model(spec)


# Decoded photos can be 4096 px RGB (~50 MB): keep only a class's worth.
@st.cache_resource(show_spinner=False, max_entries=24, ttl=EXPLANATION_TTL_S)
def _decoded(digest: str, name: str, _data: bytes) -> DecodedImage:
    try:
        return DecodedImage(name=name, digest=digest, image=load_image(_data, name=name), error=None)
    except BadImageError as err:
        return DecodedImage(name=name, digest=digest, image=None, error=str(err))


def decode(item: SessionImage) -> DecodedImage:
    """Validate and decode an image once per content; a bad one carries its one-line reason."""
    decoded = _decoded(item.digest, item.name, item.data)
    return DecodedImage(
        name=decoded.name,
        digest=decoded.digest,
        image=decoded.image,
        error=decoded.error,
        true_label=item.true_label,
        mask=item.mask,
    )


@st.cache_resource(
    show_spinner="Running the model…", max_entries=MAX_CACHED_EXPLANATIONS, ttl=EXPLANATION_TTL_S
)
def _explanation(
    spec: str,
    digest: str,
    target: int | None,
    methods: tuple[str, ...] | None,
    settings: tuple[tuple[str, object], ...],
    _image: Image.Image,
) -> ExplainResult:
    model = cached_model(spec)
    # `explain` is looked up in this module's globals at call time, so tests can count calls.
    return explain(model, _image, target=target, methods=methods, **dict(settings))


def explanation(
    spec: str,
    image: DecodedImage,
    *,
    target: int | None = None,
    methods: tuple[str, ...] | None = None,
    **settings: object,
) -> ExplainResult:
    """The cached `vitdemo.explain.explain` result for one model, image, target and settings.

    Args:
        spec: model spec (as loaded by `cached_model`).
        image: a decoded image without error.
        target: class index to explain; None for the top-1 class.
        methods: map names, None for the model family's defaults.
        **settings: further keyword arguments of `explain` (cls_layer, cam_layer, head_fusion, ...);
            all of them are part of the cache key.

    Raises:
        VitdemoError: the model cannot load or the request is invalid (one line for a person).
    """
    assert image.image is not None, "explain only decoded images"
    key_settings = tuple(sorted(settings.items()))
    return _explanation(spec, image.digest, target, methods, key_settings, image.image)


# Deletion/insertion steps per curve: 2 × (steps + 1) extra images through the network per map.
FAITHFULNESS_STEPS = 8


@st.cache_resource(show_spinner="Scoring faithfulness…", max_entries=1024, ttl=EXPLANATION_TTL_S)
def _faithfulness(
    spec: str,
    digest: str,
    target: int,
    methods: tuple[str, ...] | None,
    settings: tuple[tuple[str, object], ...],
    name: str,
    _result: ExplainResult,
) -> dict[str, float]:
    curves = deletion_insertion_curves(
        cached_model(spec), _result.view, _result.maps[name], target, steps=FAITHFULNESS_STEPS
    )
    return {"deletion_auc": curves.deletion_auc, "insertion_auc": curves.insertion_auc}


def faithfulness(
    spec: str,
    image: DecodedImage,
    result: ExplainResult,
    name: str,
    *,
    methods: tuple[str, ...] | None = None,
    **settings: object,
) -> dict[str, float]:
    """Deletion/insertion AUC of one map of a cached result (cached too; the result is not modified).

    `methods` and `settings` must be those the result was computed with: they are part of the key.
    """
    key_settings = tuple(sorted(settings.items()))
    return _faithfulness(spec, image.digest, result.target.index, methods, key_settings, name, result)


def mask_scores(model: LoadedModel, result: ExplainResult, name: str, mask) -> dict[str, float]:
    """Pointing game and energy inside a ground-truth mask (drawn on the original image); no model call."""
    aligned = align_mask(model.preprocessing, mask)
    saliency = result.maps[name]
    return {
        "pointing_game": float(pointing_game(saliency, aligned)),
        "energy_in_mask": energy_in_mask(saliency, aligned),
    }
