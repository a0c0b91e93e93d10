"""Small Streamlit building blocks the pages share: model loading, empty states, class and layer pickers."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import streamlit as st

from vitdemo.errors import VitdemoError
from vitdemo.explain.cam_layers import cam_layers
from vitdemo.explain.result import ExplainResult
from vitdemo.models import LoadedModel
from vitdemo.ui.cache import Prediction, cached_model, decode
from vitdemo.ui.guard import one_line
from vitdemo.ui.image_items import DecodedImage
from vitdemo.ui.sidebar import chosen_images, chosen_specs
from vitdemo.ui.texts import CAM_LAYER_DEPTH_TEXT, cam_layer_title, short_label

PLOTLY_CONFIG = {"displayModeBar": False}


def require_images(limit: int | None = None) -> list[DecodedImage]:
    """The sidebar's images, decoded (bad ones carry their message); stops the page when there are none.

    Args:
        limit: show at most this many, with a note when more were chosen.
    """
    # The same picture twice (uploaded again, or a gallery image uploaded) is shown once: every
    # cached result and widget of an image is keyed by its content.
    items, seen = [], set()
    for item in chosen_images():
        if item.digest not in seen:
            seen.add(item.digest)
            items.append(item)
    if not items:
        st.info(
            "Upload an image or pick a gallery sample in the sidebar to begin.", icon=":material/arrow_back:"
        )
        st.stop()
    if limit is not None and len(items) > limit:
        st.caption(f"Showing the first {limit} of {len(items)} images; the Compare page shows them all.")
        items = items[:limit]
    return [decode(item) for item in items]


def load_chosen_models() -> list[LoadedModel]:
    """Load the sidebar's models; each one that fails is one line on the page and is left out."""
    models = []
    for spec in chosen_specs():
        try:
            models.append(cached_model(spec))
        except VitdemoError as err:
            st.error(f"**{spec}** cannot be used: {one_line(err)}", icon=":material/error:")
    return models


def require_models(family: str | None = None) -> list[LoadedModel]:
    """The sidebar's models that load (failures shown), stopping the page when none is usable.

    Args:
        family: keep only "vit" or "cnn" models; None keeps all.
    """
    if not chosen_specs():
        st.info("Pick at least one model in the sidebar.", icon=":material/arrow_back:")
        st.stop()
    models = [m for m in load_chosen_models() if family is None or m.family == family]
    if not models:
        wanted = {"vit": "a Vision Transformer", "cnn": "a ResNet"}.get(family or "", "a model that loads")
        st.info(
            f"This page needs {wanted}: add one in the sidebar (for example demo-vit).",
            icon=":material/arrow_back:",
        )
        st.stop()
    return models


def pick_model_and_image(
    models: list[LoadedModel],
    images: list[DecodedImage],
    *,
    key: str,
    model_label: str = "Model",
    columns: int = 2,
) -> tuple[LoadedModel, DecodedImage, Iterator]:
    """One model and one image for a page that studies a single pair: a picker only where there is a choice.

    Returns the model, the image and the row's unused columns (for the page's own controls).
    """
    pickers = iter(st.columns(columns))
    model, image = models[0], images[0]
    if len(models) > 1:
        specs = [m.spec for m in models]
        model = models[specs.index(next(pickers).selectbox(model_label, specs, key=f"{key}_model"))]
    if len(images) > 1:
        names = [im.name for im in images]
        image = images[names.index(next(pickers).selectbox("Image", names, key=f"{key}_image"))]
    return model, image, pickers


def class_options(model: LoadedModel, first: ExplainResult | Prediction) -> list[int]:
    """Class indices for a picker: the top-k first (best first), then every other class in label order."""
    top = [score.index for score in first.top_k]
    return top + [i for i in range(model.num_classes) if i not in top]


def choose_target(
    model: LoadedModel, first: ExplainResult | Prediction, *, key: str, label: str = "Explain the class"
) -> int | None:
    """A class picker seeded with the top-1; returns None while the top-1 is picked (reuses `first`).

    Args:
        model: whose classes to offer.
        first: the prediction, or the explanation for the top-1 class (gives the ranking and probabilities).
        key: a widget key unique on the page (e.g. spec + image digest).
        label: the picker's label.
    """
    probs = _probabilities(first)
    options = class_options(model, first)

    def describe(index: int) -> str:
        name = short_label(model.labels[index], limit=40)
        return f"{name} ({probs[index]:.1%})" if probs is not None else name

    index = st.selectbox(
        label,
        options,
        key=key,
        format_func=describe,
        help="The maps explain this class. Try the second guess: where does the evidence for it lie?",
    )
    return None if index == options[0] else int(index)


def choose_cam_layer(model: LoadedModel, *, key: str) -> str:
    """A picker of the model's Grad-CAM target layers (read from the model), the last one preselected.

    Args:
        model: whose stages (ResNet) or blocks (ViT) to offer.
        key: a widget key unique on the page (e.g. "cam_layer:" + spec, so the choice survives image changes).

    Returns:
        The chosen name, as `vitdemo.explain.explain(cam_layer=...)` takes it.
    """
    choices = cam_layers(model)
    return st.selectbox(
        "Target layer",
        choices,
        index=len(choices) - 1,
        key=key,
        format_func=lambda name: cam_layer_title(name, choices),
        help=CAM_LAYER_DEPTH_TEXT,
    )


def _probabilities(result: ExplainResult | Prediction) -> np.ndarray | None:
    if result.logits is None:
        return None
    logits = np.asarray(result.logits, dtype=np.float64)
    exp = np.exp(logits - logits.max())
    return exp / exp.sum()


def top_k_bars(top_k, *, target_index: int | None = None) -> None:
    """The top-k as native progress bars, best first, the explained class in bold.

    Not a plotly chart: a class uploading at once would have every tab load and lay out plotly.js
    for three bars, which on a shared machine delays the answer by seconds; progress bars are plain
    HTML that draws at once. Bar length is the probability, as on the chart they replace.

    Args:
        top_k: `ClassScore`s, best first (as `Prediction.top_k`).
        target_index: class the maps explain; the top-1 when None.
    """
    explained = top_k[0].index if target_index is None else target_index
    for score in top_k:
        name = short_label(score.label, limit=40)
        text = f"{name} · {score.prob:.1%}"
        st.progress(
            min(max(score.prob, 0.0), 1.0),
            text=f"**{text}** ← the maps" if score.index == explained else text,
        )
