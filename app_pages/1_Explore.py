"""Explore: every chosen image × every chosen model — top-3 and four explanation maps side by side."""

import streamlit as st

from vitdemo.ui.cache import STANDARD_METHODS, explanation, faithfulness, mask_scores
from vitdemo.ui.figures import top_k_bar_chart
from vitdemo.ui.guard import shown_errors
from vitdemo.ui.model_facts import parameter_count
from vitdemo.ui.texts import (
    FAITHFULNESS_HELP,
    FAMILY_NAMES,
    PAGE_INTROS,
    TOP_K_CAPTION,
    method_sentence,
    method_title,
)
from vitdemo.ui.tiles import map_tile
from vitdemo.ui.widgets import PLOTLY_CONFIG, choose_target, require_images, require_models

# The same four columns for every model, so a ViT and a ResNet line up; a CNN's attention columns
# say why they are empty, which is itself the lesson.
METHODS = STANDARD_METHODS
MAX_IMAGES = 6
LIGHT_MODEL_PARAMETERS = 30_000_000

st.title("Explore")
st.write(PAGE_INTROS["explore"])

with st.expander("How to read this page", expanded=False):
    st.markdown(f"- **Top-3 bars**: {TOP_K_CAPTION}")
    st.markdown("- **Model input**: the image after resizing and cropping to the network's input size.")
    for name in METHODS:
        st.markdown(f"- **{method_title(name)}**: {method_sentence(name)}")
    st.markdown(f"- **Scores under a map**: {FAITHFULNESS_HELP}")

images = require_images(limit=MAX_IMAGES)
models = require_models()
# Scoring costs ~18 extra forward passes per map: on by default only for small models (the demo
# models take a second; a ViT-B on a laptop CPU takes minutes).
light = all(parameter_count(model) <= LIGHT_MODEL_PARAMETERS for model in models)
score = st.toggle(
    "Score each map's faithfulness",
    value=light,
    key="explore_score",
    help=FAITHFULNESS_HELP + " Costs about 18 extra model runs per map, once per image and class.",
)


def model_row(image, model) -> None:
    """One model on one image: name, class picker and top-3 bars above; input view and four maps below."""
    key = f"{model.spec}:{image.digest[:16]}"
    first = explanation(model.spec, image, methods=METHODS)
    name_col, target_col, chart_col = st.columns([1.3, 1.5, 2.2], gap="medium", vertical_alignment="center")
    with name_col:
        st.markdown(f"**{model.spec}**", help=model.source)
        st.caption(f"{FAMILY_NAMES[model.family]} · {model.num_classes} classes")
    with target_col:
        target = choose_target(model, first, key=f"target:{key}")
    result = first if target is None else explanation(model.spec, image, target=target, methods=METHODS)
    with chart_col:
        st.plotly_chart(
            top_k_bar_chart(result.top_k, target_index=result.target.index),
            key=f"topk:{key}",
            config=PLOTLY_CONFIG,
        )
    columns = st.columns(1 + len(METHODS), gap="medium")
    with columns[0]:
        st.markdown("**Model input**", help="The image resized and cropped to the network's input size.")
        st.image(result.view, width="stretch")
    for column, name in zip(columns[1:], METHODS, strict=True):
        with column:
            available = name in result.maps
            faithful = (
                faithfulness(model.spec, image, result, name, methods=METHODS)
                if score and available
                else None
            )
            on_mask = (
                mask_scores(model, result, name, image.mask) if image.mask is not None and available else None
            )
            map_tile(result, name, faithful=faithful, on_mask=on_mask)


for image in images:
    with st.container(border=True):
        truth = f" · true class: **{image.true_label}**" if image.true_label else ""
        st.markdown(f"#### {image.name}{truth}")
        if not image.ok:
            st.error(image.error, icon=":material/broken_image:")
            continue
        for i, model in enumerate(models):
            if i:
                st.divider()
            with shown_errors(f"{model.spec} on {image.name}"):
                model_row(image, model)
