"""Explore: every chosen image × every chosen model — top-3 and four explanation maps side by side.

Answer first: the page draws every model's top-3 (one batched forward pass, shared with other
sessions), then fills each model's maps into the place kept for them, and computes faithfulness
scores last, only when asked for.
"""

import streamlit as st

from vitdemo.ui.cache import STANDARD_METHODS, explanation, faithfulness, mask_scores, prediction
from vitdemo.ui.guard import shown_errors
from vitdemo.ui.texts import (
    FAITHFULNESS_HELP,
    FAMILY_NAMES,
    PAGE_INTROS,
    TOP_K_CAPTION,
    method_sentence,
    method_title,
    short_label,
)
from vitdemo.ui.tiles import VIEW_TILE, map_tile, show_scores, show_tile
from vitdemo.ui.timing import mark
from vitdemo.ui.widgets import choose_target, require_images, require_models, top_k_bars

# The same four columns for every model, so a ViT and a ResNet line up; a CNN's attention columns
# say why they are empty, which is itself the lesson.
METHODS = STANDARD_METHODS
MAX_IMAGES = 6

mark("start")
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
# Off by default: scoring costs ~18 extra model runs per map, and a class at once would wait for it.
score = st.toggle(
    "Score each map's faithfulness",
    value=False,
    key="explore_score",
    help=FAITHFULNESS_HELP + " Costs about 18 extra model runs per map, once per image and class.",
)


def answer_row(image, model, index: int) -> tuple[int | None, object]:
    """Name, class picker and top-3 bars of one model; returns the picked class and the place for the maps."""
    key = f"{model.spec}:{image.digest[:16]}"
    guess = prediction(model.spec, image)
    mark("predicted", image.digest, index)
    name_col, target_col, chart_col = st.columns([1.3, 1.5, 2.2], gap="medium", vertical_alignment="center")
    with name_col:
        st.markdown(f"**{model.spec}**", help=model.source)
        st.caption(f"{FAMILY_NAMES[model.family]} · {model.num_classes} classes")
    with target_col:
        target = choose_target(model, guess, key=f"target:{key}")
    with chart_col, st.container(key=f"explore_top3_{index}_{image.digest[:12]}"):
        best = guess.top_k[0]
        top_k_bars(guess.top_k, target_index=best.index if target is None else target)
        st.caption(f"Top guess: {short_label(best.label)} ({best.prob:.0%})")
    mark("top3", image.digest, index)
    return target, st.container(key=f"explore_maps_{index}_{image.digest[:12]}")


def map_row(
    image, model, target: int | None, index: int = 0
) -> list[tuple[object, str, object, dict | None]]:
    """The input view and the four maps of one model; returns the score slots to fill in later."""
    mark("explain_start", image.digest, index)
    result = explanation(model.spec, image, target=target, methods=METHODS)
    mark("explain_end", image.digest, index)
    columns = st.columns(1 + len(METHODS), gap="medium")
    with columns[0]:
        st.markdown("**Model input**", help="The image resized and cropped to the network's input size.")
        show_tile(result, VIEW_TILE)
    slots = []
    for column, name in zip(columns[1:], METHODS, strict=True):
        with column:
            available = name in result.maps
            on_mask = (
                mask_scores(model, result, name, image.mask) if image.mask is not None and available else None
            )
            slot = map_tile(result, name, on_mask=on_mask)
            if slot is not None:
                slots.append((slot, name, result, on_mask))
    mark("tiles", image.digest, index)
    return slots


# 1. Every model's answer, for every image, before any map.
rows = []
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
                target, place = answer_row(image, model, i)
                rows.append((image, model, i, target, place))

# 2. The maps, into the places kept for them.
score_slots = []
for image, model, i, target, place in rows:
    with place, shown_errors(f"maps of {model.spec} on {image.name}"):
        score_slots += [(image, model, *slot) for slot in map_row(image, model, target, i)]

# 3. Faithfulness last, when asked for.
if score:
    for image, model, slot, name, result, on_mask in score_slots:
        with shown_errors(f"scores of {model.spec} on {image.name}"):
            show_scores(slot, faithfulness(model.spec, image, result, name, methods=METHODS), on_mask)
