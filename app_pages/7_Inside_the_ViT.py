"""Inside the ViT: mean attention distance and entropy per head, first-layer filters, logit lens, token norms.

Distance, entropy and filters come from the cached explanation and the weights (sliders never run the
model); the logit lens and token norms share one cached pass that records every block's tokens.
"""

import numpy as np
import streamlit as st
import torch

from vitdemo.explain.analyses import (
    attention_entropy,
    first_layer_ranking_first,
    logit_lens,
    max_attention_entropy,
    mean_attention_distance,
    token_norms,
    uniform_attention_distance,
)
from vitdemo.ui.cache import STANDARD_METHODS, explanation
from vitdemo.ui.inside_cache import cached_block_outputs, cached_first_layer_filters
from vitdemo.ui.inside_figures import (
    filters_figure,
    logit_lens_figure,
    per_head_figure,
    token_norm_map_figure,
    token_norm_profile_figure,
)
from vitdemo.ui.inside_texts import (
    CNN_TEXT,
    DISTANCE_TEXT,
    ENTROPY_TEXT,
    FILTER_TEXTS,
    INTRO,
    LENS_TEXT,
    NORMS_TEXT,
    distance_summary,
    entropy_summary,
    lens_summary,
    norms_summary,
    prefix_names,
)
from vitdemo.ui.widgets import PLOTLY_CONFIG, pick_model_and_image, require_images, require_models


def show_filters(model) -> None:
    filters = cached_first_layer_filters(model.spec)
    kh, kw = filters.filters.shape[1:3]
    st.markdown(
        FILTER_TEXTS["cnn" if model.family == "cnn" else filters.kind].format(
            layer=filters.layer, kh=kh, kw=kw, stride=filters.stride[0]
        )
    )
    st.plotly_chart(filters_figure(filters), key="inside_filters", config=PLOTLY_CONFIG, theme=None)
    if filters.explained is not None:
        st.caption(
            f"The first {len(filters.explained)} components explain {filters.explained.sum():.0%} of the "
            "filters' variance (the first alone: {:.0%}).".format(filters.explained[0])
        )


st.title("Inside the ViT")
st.write(INTRO)

images = [image for image in require_images() if image.ok]
models = require_models()
if not images:
    st.warning("None of the chosen images could be read; see the messages on the Explore page.")
    st.stop()

model, image, pickers = pick_model_and_image(models, images, key="inside", columns=3)

if model.family != "vit" or model.geometry is None:
    st.info(CNN_TEXT, icon=":material/info:")
    st.subheader("What the first layer sees")
    show_filters(model)
    st.stop()

geometry = model.geometry
result = explanation(model.spec, image, methods=STANDARD_METHODS)
if result.attentions is None:
    st.error(f"{model.spec} returned no attention maps, so there is nothing to show here.")
    st.stop()
layers, heads = result.attentions.shape[:2]
st.caption(
    f"**{model.spec}** on **{image.name}**: {layers} layers × {heads} heads, {geometry.grid_size[0]}×"
    f"{geometry.grid_size[1]} patches of {geometry.patch_size[0]}×{geometry.patch_size[1]} px, "
    f"{geometry.num_prefix_tokens} extra token(s)."
)

# --- 1 and 5: how far and how focused each head looks ---------------------------------------------
st.subheader("How far does each head look?")
scope = "This image"
if len(images) > 1:
    scope = next(pickers).radio(
        "Distance and entropy over",
        ["This image", f"All {len(images)} images"],
        key="inside_scope",
        horizontal=True,
        help="All chosen images: their explanations are cached, so this runs the model once per new image.",
    )
chosen = images if scope != "This image" else [image]
attentions = [result.attentions] + [
    explanation(model.spec, other, methods=STANDARD_METHODS).attentions
    for other in chosen
    if other is not image
]
stack = attentions[0] if len(attentions) == 1 else torch.stack(attentions)  # (images, L, H, N, N)
distance = mean_attention_distance(stack, geometry).numpy()
entropy = attention_entropy(stack, geometry).numpy()
uniform, most = uniform_attention_distance(geometry), max_attention_entropy(geometry)
distance_col, entropy_col = st.columns(2, gap="large")
with distance_col:
    st.markdown(DISTANCE_TEXT)
    st.plotly_chart(
        per_head_figure(
            distance,
            y_title="Mean attention distance (px)",
            reference=uniform,
            reference_label="uniform",
            unit="px",
        ),
        key="inside_distance",
        config=PLOTLY_CONFIG,
    )
    st.info(distance_summary(distance, uniform), icon=":material/straighten:")
with entropy_col:
    st.markdown(ENTROPY_TEXT)
    st.plotly_chart(
        per_head_figure(
            entropy,
            y_title="Attention entropy (nats)",
            reference=most,
            reference_label="uniform",
            unit="nats",
        ),
        key="inside_entropy",
        config=PLOTLY_CONFIG,
    )
    st.info(entropy_summary(entropy, most), icon=":material/blur_on:")

# --- 2: first-layer filters ------------------------------------------------------------------------
st.subheader("What the first layer sees")
show_filters(model)

# --- 3 and 4: logit lens and token norms (one cached pass) -----------------------------------------
blocks = cached_block_outputs(model.spec, image, result)
lens = logit_lens(model, blocks.tokens)
final = int(lens[-1].argmax())
st.subheader("When does the model know?")
lens_col, text_col = st.columns([3, 2], gap="large")
with lens_col:
    probs = lens.softmax(dim=-1).numpy()
    st.plotly_chart(
        logit_lens_figure(probs, model.labels), key="inside_lens", config=PLOTLY_CONFIG, theme=None
    )
with text_col:
    st.markdown(LENS_TEXT)
    st.info(
        lens_summary(first_layer_ranking_first(lens, final), model.labels[final], layers),
        icon=":material/psychology:",
    )

st.subheader("Token norms")
st.markdown(NORMS_TEXT)
norms = token_norms(blocks.tokens, geometry)
norm_layer = st.slider(
    "Layer", 1, layers, layers, key="inside_norm_layer", help="Sliding never runs the model."
)
map_col, profile_col = st.columns(2, gap="large")
with map_col:
    zmax = float(np.percentile(norms.patches.numpy(), 99.9))
    st.plotly_chart(
        token_norm_map_figure(norms.patches[norm_layer - 1].numpy(), zmax=zmax),
        key="inside_norm_map",
        config=PLOTLY_CONFIG,
        theme=None,
    )
    st.caption(norms_summary(norms, norm_layer - 1))
with profile_col:
    st.plotly_chart(
        token_norm_profile_figure(norms, prefix_names(geometry)),
        key="inside_norm_profile",
        config=PLOTLY_CONFIG,
    )
    st.caption("Per layer: the median and the largest patch norm, and each extra token's norm.")
