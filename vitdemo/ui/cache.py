"""What the app computes once and reuses: models per process, explanations per input and settings.

* Models: `st.cache_resource` keyed by the spec string — one shared, read-only `LoadedModel` per
  process, whatever the number of tabs (the explain code is thread-safe on shared models).
* Explanations: `st.cache_resource` keyed by (model spec, image digest, target class, methods,
  map settings — the Grad-CAM layer `cam_layer` included). The image itself is passed unhashed (`_image`): the digest already names it.
  Results are shared between sessions (a class opening the same gallery image computes it once)
  and must be treated as read-only.
* Predictions: `st.cache_resource` keyed by (model spec, image digest): the top-k and the logits,
  from the model's request queue (`vitdemo.models.batching`), so a class uploading at once shares
  batched forward passes and sees its top-3 before any map is computed.
* Heavy work (explanations, faithfulness scores) takes turns in `EXPLAIN_QUEUE`, first come first
  served; a caller that has to wait reads a still line saying how many requests are ahead and
  roughly how long (`queue_note`). Cache hits never queue.
* Everything a slider changes afterwards (layer, head, query token, head fusion, colour scale) is
  computed from the cached attentions by pure functions — the model never runs for a slider.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import numpy as np
import streamlit as st
import torch
from PIL import Image

from vitdemo.data.images import load_image
from vitdemo.errors import BadImageError
from vitdemo.explain import explain
from vitdemo.explain.faithfulness import align_mask, deletion_insertion_curves, energy_in_mask, pointing_game
from vitdemo.explain.result import ClassScore, ExplainResult
from vitdemo.models import LoadedModel, load_model
from vitdemo.models.batching import batched_logits
from vitdemo.models.threads import model_threads, set_process_threads
from vitdemo.ui.image_items import DecodedImage, SessionImage
from vitdemo.ui.work_queue import FairQueue, QueueLoad, waiting_sentence

# Explore, Attention and Compare ask for the same maps, so one explanation per (model, image,
# class) serves all three pages: switching pages recomputes nothing.
STANDARD_METHODS = ("cls", "rollout", "relevance", "gradcam")
# Explanations of a ViT-B hold ~22 MB of attention each: enough entries for a class's images,
# few enough for a 16 GB Space.
MAX_CACHED_EXPLANATIONS = 96
EXPLANATION_TTL_S = 2 * 3600
# Predictions are a few hundred bytes each: a whole class's uploads, for every model.
MAX_CACHED_PREDICTIONS = 512
TOP_K = 3


# Threads per torch op in the server process: torch's default (one per core) unless
# `VITDEMO_TORCH_THREADS` says otherwise. Measured on this 2-core machine at load ~15, one script
# alone: explaining a demo-vit image took 0.28–0.52 s with 2 threads and 0.04–0.07 s with 1 (the
# intra-op team waits at a barrier after every op, and on busy cores one descheduled thread stalls
# the other); an untrained ViT-B 2.6–6.7 s with 2 and 1.37 s with 1. But in the classroom benchmark
# (10–20 tabs, load 20–36) one thread was not faster: with fewer runnable threads the server also
# gets a smaller share of oversubscribed cores. So it stays a setting for a host that knows its load.
TORCH_THREADS_ENV = "VITDEMO_TORCH_THREADS"


def configured_torch_threads() -> int | None:
    """`VITDEMO_TORCH_THREADS` as a positive number, or None (unset or not a number: torch's default)."""
    try:
        threads = int(os.environ.get(TORCH_THREADS_ENV) or 0)
    except ValueError:
        return None  # a typo in a deployment setting is not worth a broken page
    return threads if threads > 0 else None


@st.cache_resource(show_spinner=False)
def server_torch_threads() -> int:
    """Apply `VITDEMO_TORCH_THREADS` once per process (called where the app starts); the threads per op."""
    threads = configured_torch_threads()
    if threads is not None:
        set_process_threads(threads)
    return torch.get_num_threads()


# Explanations and faithfulness scores of all sessions take turns here (see work_queue.py): one
# turn per core with single-threaded torch, else the queue's default (one per two cores).
EXPLAIN_QUEUE = FairQueue(os.cpu_count() or 1) if configured_torch_threads() == 1 else FairQueue()


@contextmanager
def queue_note(load: QueueLoad, what: str = "the maps") -> Iterator[None]:
    """Say where a request stands while it may wait, in a still line that goes when it is done.

    Not `st.spinner`: its animation keeps every waiting tab's browser drawing. Measured in headless
    Chromium on this 2-core machine, five tabs with a spinner used 2.7 CPU-seconds in 8 s, the same
    tabs without one 0.1 — at twenty students waiting twenty seconds that is more CPU than the
    server spends on all their maps, and on a classroom's weakest laptops it is what makes the
    page feel slow. With the queue empty the work starts at once, and Streamlit's spinner (shown
    only after half a second, so never for a cache hit) is the one tab's progress sign.
    """
    if load.ahead == 0:
        with st.spinner(waiting_sentence(load, what)):
            yield
        return
    note = st.empty()
    note.caption(f":material/hourglass_top: {waiting_sentence(load, what)}")
    try:
        yield
    finally:
        note.empty()


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


@dataclass(frozen=True)
class Prediction:
    """A model's answer for one image, before any map: what the top-3 bars and the class picker need.

    Attributes:
        top_k: the `TOP_K` most probable classes, best first.
        logits: raw scores for every class, float32 (num_classes,) (as `ExplainResult.logits`).
    """

    top_k: list[ClassScore]
    logits: np.ndarray


@st.cache_resource(show_spinner=False, max_entries=MAX_CACHED_PREDICTIONS, ttl=EXPLANATION_TTL_S)
def _prediction(spec: str, digest: str, _image: Image.Image) -> Prediction:
    model = cached_model(spec)
    x = model.preprocessing.to_tensor(_image)[None]  # (1, 3, H, W)
    with model_threads(model):  # this thread may lead the batch: it runs the forward pass
        logits = batched_logits(model, x)[0]  # (classes,): batched with other sessions' images
    probs = logits.softmax(dim=-1)
    top = probs.topk(min(TOP_K, model.num_classes)).indices.tolist()
    scores = [ClassScore(index=i, label=model.labels[i], prob=float(probs[i])) for i in top]
    return Prediction(top_k=scores, logits=logits.numpy())


def prediction(spec: str, image: DecodedImage) -> Prediction:
    """The cached top-k and logits of one model on one decoded image (one forward pass, no maps).

    Raises:
        VitdemoError: the model cannot load (one line for a person).
    """
    assert image.image is not None, "predict only decoded images"
    return _prediction(spec, image.digest, image.image)


@st.cache_resource(show_spinner=False, max_entries=MAX_CACHED_EXPLANATIONS, ttl=EXPLANATION_TTL_S)
def _explanation(
    spec: str,
    digest: str,
    target: int | None,
    methods: tuple[str, ...] | None,
    settings: tuple[tuple[str, object], ...],
    _image: Image.Image,
) -> ExplainResult:
    model = cached_model(spec)
    with EXPLAIN_QUEUE.turn(), model_threads(model):
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
    with queue_note(EXPLAIN_QUEUE.load()):
        return _explanation(spec, image.digest, target, methods, key_settings, image.image)


# Deletion/insertion steps per curve: 2 × (steps + 1) extra images through the network per map.
FAITHFULNESS_STEPS = 8


@st.cache_resource(show_spinner=False, max_entries=1024, ttl=EXPLANATION_TTL_S)
def _faithfulness(
    spec: str,
    digest: str,
    target: int,
    methods: tuple[str, ...] | None,
    settings: tuple[tuple[str, object], ...],
    name: str,
    _result: ExplainResult,
) -> dict[str, float]:
    model = cached_model(spec)
    with EXPLAIN_QUEUE.turn(), model_threads(model):
        curves = deletion_insertion_curves(
            model, _result.view, _result.maps[name], target, steps=FAITHFULNESS_STEPS
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
    with queue_note(EXPLAIN_QUEUE.load(), "the scores"):
        return _faithfulness(spec, image.digest, result.target.index, methods, key_settings, name, result)


def mask_scores(model: LoadedModel, result: ExplainResult, name: str, mask) -> dict[str, float]:
    """Pointing game and energy inside a ground-truth mask (drawn on the original image); no model call."""
    aligned = align_mask(model.preprocessing, mask)
    saliency = result.maps[name]
    return {
        "pointing_game": float(pointing_game(saliency, aligned)),
        "energy_in_mask": energy_in_mask(saliency, aligned),
    }
