"""Grad-CAM: the class-activation-map family for every chosen model, side by side, for a chosen class and layer."""

import streamlit as st

from vitdemo.explain.analyses import applicable_methods
from vitdemo.explain.methods import METHODS
from vitdemo.ui.cache import explanation, faithfulness, mask_scores
from vitdemo.ui.figures import top_k_bar_chart
from vitdemo.ui.guard import shown_errors
from vitdemo.ui.inside_cache import cached_random_baseline, cached_sanity_check
from vitdemo.ui.inside_figures import sanity_check_figure
from vitdemo.ui.texts import (
    CAM_LAYER_DEPTH_TEXT,
    CAM_LAYER_TEXT,
    FAITHFULNESS_HELP,
    FAMILY_NAMES,
    PAGE_INTROS,
    method_sentence,
    method_title,
)
from vitdemo.ui.tiles import map_tile
from vitdemo.ui.widgets import (
    PLOTLY_CONFIG,
    choose_cam_layer,
    choose_target,
    require_images,
    require_models,
)

DEFAULT_CAMS = ["gradcam", "gradcam++", "layercam", "eigencam"]
RANDOM_BASELINE_HELP = (
    "Deletion and insertion depend on the image and the model as much as on the map. The chance level "
    "scores random maps with the same native resolution (so the same smoothness) with the same curves."
)
SANITY_TEXT = (
    "Adebayo et al. (2018) asked whether saliency maps depend on the model at all. Here the weights of a "
    "private copy of the model are re-initialised from the classifier head down to the first layer, one "
    "step at a time, and every map is computed again for the same class. A map that explains the model "
    "must change (its rank correlation with the trained map falls towards 0); a map that stays alike "
    "(above the dashed line) shows the image more than the model. The shared model is never touched."
)
TILES_PER_ROW = 2

st.title("Grad-CAM")
st.write(PAGE_INTROS["gradcam"])

images = [image for image in require_images() if image.ok]
models = require_models()
if not images:
    st.warning("None of the chosen images could be read; see the messages on the Explore page.")
    st.stop()

image_col, method_col, score_col = st.columns([1, 2, 1], gap="medium", vertical_alignment="bottom")
names = [image.name for image in images]
image = images[names.index(image_col.selectbox("Image", names, key="cam_image"))]
methods = method_col.multiselect(
    "Methods",
    list(METHODS.names("cam")),
    default=DEFAULT_CAMS,
    key="cam_methods",
    format_func=method_title,
    help="Score-CAM runs the model once per feature channel: expect it to take a while.",
)
score = score_col.toggle("Score faithfulness", value=False, key="cam_score", help=FAITHFULNESS_HELP)
if not methods:
    st.info("Pick at least one method.")
    st.stop()
methods = tuple(methods)
with st.expander("What do these methods do?"):
    for name in methods:
        st.markdown(f"- **{method_title(name)}**: {method_sentence(name)}")
st.caption(CAM_LAYER_DEPTH_TEXT)


def model_column(model) -> None:
    """One model: header, layer and class pickers, top-3, then one tile per method."""
    key = f"cam:{model.spec}:{image.digest[:16]}"
    st.markdown(f"#### {model.spec}", help=model.source)
    st.caption(f"{FAMILY_NAMES[model.family]}. {CAM_LAYER_TEXT[model.family]}")
    layer = choose_cam_layer(model, key=f"cam_layer:{model.spec}")
    first = explanation(model.spec, image, methods=methods, cam_layer=layer)
    target = choose_target(model, first, key=f"target:{key}")
    result = (
        first
        if target is None
        else explanation(model.spec, image, target=target, methods=methods, cam_layer=layer)
    )
    st.plotly_chart(
        top_k_bar_chart(result.top_k, target_index=result.target.index),
        key=f"topk:{key}",
        config=PLOTLY_CONFIG,
    )
    for start in range(0, len(methods), TILES_PER_ROW):
        for column, name in zip(
            st.columns(TILES_PER_ROW, gap="small"), methods[start : start + TILES_PER_ROW], strict=False
        ):
            with column:
                available = name in result.maps
                faithful = (
                    faithfulness(model.spec, image, result, name, methods=methods, cam_layer=layer)
                    if score and available
                    else None
                )
                on_mask = (
                    mask_scores(model, result, name, image.mask)
                    if image.mask is not None and available
                    else None
                )
                map_tile(result, name, faithful=faithful, on_mask=on_mask)
    if score:
        chance_line(model, result)
    sanity_check(model, result, layer)


def chance_line(model, result) -> None:
    """The random-map baseline under the scores: what a map as smooth as these, but random, scores."""
    available = [name for name in methods if name in result.raw_maps]
    if not available:
        return
    baseline = cached_random_baseline(model.spec, image, result, available[0])
    rows, cols = baseline.grid
    st.caption(
        f"Chance level — random {rows}×{cols} maps, as smooth as these, averaged over {baseline.seeds} seeds: "
        f"deletion {baseline.deletion_auc:.2f} ↓ · insertion {baseline.insertion_auc:.2f} ↑. "
        "A map is only informative where it beats these.",
        help=RANDOM_BASELINE_HELP,
    )


def sanity_check(model, result, layer: str) -> None:
    """Cascading randomisation (Adebayo et al. 2018) on request, with a progress bar; then plot and verdicts."""
    key = f"sanity:{model.spec}:{image.digest[:16]}:{result.target.index}:{layer}"
    with st.expander("Sanity check: does each map depend on the model?", expanded=key in st.session_state):
        st.markdown(SANITY_TEXT)
        offered = applicable_methods(model)
        chosen = st.multiselect(
            "Methods to check",
            offered,
            default=[m for m in offered if m != "scorecam"],
            format_func=method_title,
            key=f"{key}:methods",
            help="Every method the app offers for this model; Score-CAM is slow, so it is left out by default.",
        )
        if st.button("Run the sanity check", key=f"{key}:run", disabled=not chosen):
            st.session_state[key] = True
        if key not in st.session_state or not chosen:
            return
        bar = st.progress(0.0, text="Re-initialising the weights from the head down…")

        def report(done: int, total: int, step: str) -> None:
            bar.progress(done / total, text=f"Step {done} of {total}: {step}")

        check = cached_sanity_check(
            model.spec, image, result.target.index, tuple(chosen), layer, progress=report
        )
        bar.empty()
        titles = {name: method_title(name) for name in chosen}
        st.plotly_chart(sanity_check_figure(check, titles), key=f"{key}:figure", config=PLOTLY_CONFIG)
        for name in check.spearman:
            icon = ":material/check_circle:" if check.passes(name) else ":material/warning:"
            st.markdown(f"{icon} {check.verdict(name, titles[name])}")
        for name, reason in check.unavailable.items():
            if name in chosen:
                st.caption(f"{method_title(name)}: {reason}")


for row_start in range(0, len(models), 2):
    for column, model in zip(
        st.columns(2, gap="large", border=True), models[row_start : row_start + 2], strict=False
    ):
        with column, shown_errors(f"Grad-CAM of {model.spec}"):
            model_column(model)
