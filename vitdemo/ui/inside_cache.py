"""What "Inside the ViT" and the sanity checks compute once and reuse, next to `cache.py`.

Block outputs (logit lens, token norms), sanity checks and random-map baselines are cached per
(model spec, image digest, settings) for every session, like explanations; results are read-only.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import streamlit as st
from PIL import Image

from vitdemo.explain.analyses import (
    BlockOutputs,
    FirstLayerFilters,
    RandomBaseline,
    SanityCheck,
    block_outputs,
    cascading_randomisation,
    first_layer_filters,
    random_map_baseline,
)
from vitdemo.explain.result import ExplainResult
from vitdemo.ui.cache import EXPLANATION_TTL_S, FAITHFULNESS_STEPS, cached_model
from vitdemo.ui.image_items import DecodedImage

RANDOM_BASELINE_SEEDS = 3


@st.cache_resource(show_spinner="Reading every block's tokens…", max_entries=32, ttl=EXPLANATION_TTL_S)
def _block_outputs(spec: str, digest: str, _view: np.ndarray) -> BlockOutputs:
    model = cached_model(spec)
    return block_outputs(model, model.preprocessing.normalise(_view)[None])


def cached_block_outputs(spec: str, image: DecodedImage, result: ExplainResult) -> BlockOutputs:
    """Every block's tokens for the image as the model saw it (`result.view`), cached."""
    return _block_outputs(spec, image.digest, result.view)


@st.cache_resource(show_spinner=False, max_entries=8)
def cached_first_layer_filters(spec: str) -> FirstLayerFilters:
    """The model's first-layer patterns, computed once per model (they depend on the weights only)."""
    return first_layer_filters(cached_model(spec))


@st.cache_resource(show_spinner=False, max_entries=16, ttl=EXPLANATION_TTL_S)
def _sanity_check(
    spec: str,
    digest: str,
    target: int,
    methods: tuple[str, ...],
    cam_layer: str | None,
    _image: Image.Image,
    _progress: Callable[[int, int, str], None] | None,
) -> SanityCheck:
    return cascading_randomisation(
        cached_model(spec), _image, methods, target=target, cam_layer=cam_layer, progress=_progress
    )


def cached_sanity_check(
    spec: str,
    image: DecodedImage,
    target: int,
    methods: tuple[str, ...],
    cam_layer: str | None,
    progress: Callable[[int, int, str], None] | None = None,
) -> SanityCheck:
    """Cascading randomisation of one model, image, class and method set (cached; progress while computing)."""
    assert image.image is not None, "check only decoded images"
    return _sanity_check(spec, image.digest, target, methods, cam_layer, image.image, progress)


@st.cache_resource(show_spinner="Scoring random maps…", max_entries=256, ttl=EXPLANATION_TTL_S)
def _random_baseline(
    spec: str, digest: str, target: int, grid: tuple[int, int], _view: np.ndarray
) -> RandomBaseline:
    return random_map_baseline(
        cached_model(spec), _view, grid, target, seeds=RANDOM_BASELINE_SEEDS, steps=FAITHFULNESS_STEPS
    )


def cached_random_baseline(
    spec: str, image: DecodedImage, result: ExplainResult, name: str
) -> RandomBaseline:
    """Deletion/insertion AUC of random maps as smooth as map `name` (same native grid), cached."""
    grid = tuple(int(n) for n in result.raw_maps[name].shape[:2])
    return _random_baseline(spec, image.digest, result.target.index, grid, result.view)
