"""Attention: every layer and head of a ViT at once, one of them enlarged, and rollout with its knobs.

All of it comes from the attentions cached with the first explanation: sliders never run the model.
"""

import streamlit as st

from vitdemo.explain import scale_to_view
from vitdemo.explain.attention_views import Query, query_map, query_rollout, query_tiles
from vitdemo.explain.overlay import overlay
from vitdemo.ui.cache import STANDARD_METHODS, explanation
from vitdemo.ui.figures import attention_grid_figure, query_picker_figure
from vitdemo.ui.texts import (
    ATTENTION_GRID_CAPTION,
    DISCARD_RATIO_HELP,
    HEAD_FUSION_HELP,
    PAGE_INTROS,
    QUERY_HELP,
    SCALED_COLOUR_HELP,
    method_sentence,
)
from vitdemo.ui.widgets import PLOTLY_CONFIG, pick_model_and_image, require_images, require_models

QUERY_LABELS = {"cls": "Class token (CLS)", "patches": "All patches (average)", "patch": "One patch"}
PICKER_KEY = "attention_query_picker"
DISCARD_OPTIONS = [round(0.05 * i, 2) for i in range(20)]  # 0 … 95 %: rollout needs some attention left


def keep_valid(key: str, valid: list, default) -> None:
    """Seed a widget's value, or reset it when it no longer exists (e.g. another model has fewer layers).

    Widgets below take their value from Session State only (no `value=`), so this is the one default.
    """
    if st.session_state.get(key) not in valid:
        st.session_state[key] = default


def apply_click(grid_cols: int) -> None:
    """A click on the picker image selects that patch as the query (before the widgets are drawn)."""
    event = st.session_state.get(PICKER_KEY)
    points = [p for p in (event.selection.points if event else []) if p.get("curve_number") == 1]
    if not points:
        return
    index = int(points[0]["point_index"])
    if st.session_state.get("attention_click_seen") == index:
        return  # the same click, still in the chart's state: the sliders may have moved since
    st.session_state["attention_click_seen"] = index
    st.session_state["attention_query_kind"] = "patch"
    st.session_state["attention_query_row"] = index // grid_cols + 1
    st.session_state["attention_query_col"] = index % grid_cols + 1


st.title("Attention")
st.write(PAGE_INTROS["attention"])

images = [image for image in require_images() if image.ok]
models = require_models(family="vit")
if not images:
    st.warning("None of the chosen images could be read; see the messages on the Explore page.")
    st.stop()

model, image, _ = pick_model_and_image(models, images, key="attention", model_label="Vision Transformer")

result = explanation(model.spec, image, methods=STANDARD_METHODS)
geometry = model.geometry
attentions = result.attentions
if attentions is None or geometry is None:
    st.error(f"{model.spec} returned no attention maps, so there is nothing to show here.")
    st.stop()
layers, heads = attentions.shape[:2]
grid_rows, grid_cols = geometry.grid_size
st.caption(
    f"**{model.spec}** on **{image.name}**: {layers} layers × {heads} heads, "
    f"{grid_rows}×{grid_cols} patches of {geometry.patch_size[0]} px, {geometry.num_prefix_tokens} extra token(s). "
    f"Top prediction: {result.top_k[0].label} ({result.top_k[0].prob:.0%})."
)

# --- controls: query token, layer, head, colour scale ------------------------------------------
kinds = ["cls", "patch"] if geometry.has_class_token else ["patches", "patch"]
keep_valid("attention_query_kind", kinds, kinds[0])
keep_valid("attention_query_row", list(range(1, grid_rows + 1)), 1)
keep_valid("attention_query_col", list(range(1, grid_cols + 1)), 1)
keep_valid("attention_layer", list(range(1, layers + 1)), layers)
head_options = ["mean", *range(1, heads + 1)]
keep_valid("attention_head", head_options, "mean")
keep_valid("attention_scale", ["scaled", "raw"], "scaled")
keep_valid("attention_fusion", ["mean", "max", "min"], "mean")
keep_valid("attention_discard", DISCARD_OPTIONS, 0.0)
apply_click(grid_cols)

query_col, layer_col, head_col, scale_col = st.columns([1.3, 1, 1, 1], gap="medium")
with query_col:
    kind = st.radio(
        "Query token",
        kinds,
        key="attention_query_kind",
        format_func=QUERY_LABELS.get,
        horizontal=True,
        help=QUERY_HELP,
    )
    query = Query("cls" if kind == "cls" else kind)
    if kind == "patch":
        row_col, col_col = st.columns(2)
        row = row_col.slider("Patch row", 1, grid_rows, key="attention_query_row")
        col = col_col.slider("Patch column", 1, grid_cols, key="attention_query_col")
        query = Query("patch", row - 1, col - 1)
        st.caption("Or click a patch on the image below.")
with layer_col:
    layer = st.slider(
        "Layer",
        1,
        layers,
        key="attention_layer",
        help="1 is next to the pixels; the last feeds the classifier.",
    )
with head_col:
    head = st.select_slider(
        "Head",
        head_options,
        key="attention_head",
        help="One head, or the mean over all heads of the layer.",
    )
with scale_col:
    scaled = (
        st.radio(
            "Colour scale", ["scaled", "raw"], key="attention_scale", horizontal=True, help=SCALED_COLOUR_HELP
        )
        == "scaled"
    )

# --- the query, one enlarged map, rollout --------------------------------------------------------
size = result.view.shape[:2]
picker_col, single_col, rollout_col = st.columns(3, gap="medium")
with picker_col:
    st.markdown("**The query**", help=QUERY_HELP)
    selected = (query.row, query.col) if query.kind == "patch" else None
    st.plotly_chart(
        query_picker_figure(result.view, geometry.grid_size, selected=selected),
        key=PICKER_KEY,
        on_select="rerun",
        selection_mode="points",
        config=PLOTLY_CONFIG,
        theme=None,  # keep the figure's own colour scale: Streamlit's theme recolours heatmaps
    )
    st.caption(f"Showing what {query.describe()} attends to. Click any patch to make it the query.")
with single_col:
    head_text = "mean of all heads" if head == "mean" else f"head {head}"
    st.markdown(f"**Layer {layer}, {head_text}**", help=method_sentence("cls"))
    single = query_map(attentions, geometry, query, layer - 1, "mean" if head == "mean" else int(head) - 1)
    st.image(overlay(result.view, scale_to_view(single, size)), width="stretch")
    st.caption(f"Where {query.describe()} looks in layer {layer} ({head_text}); warm = strong attention.")
with rollout_col:
    st.markdown("**Attention rollout**", help=method_sentence("rollout"))
    image_slot = st.empty()  # the map goes above its knobs, level with the other two images
    fusion_col, discard_col = st.columns(2)
    fusion = fusion_col.selectbox(
        "Head fusion", ["mean", "max", "min"], key="attention_fusion", help=HEAD_FUSION_HELP
    )
    discard = discard_col.select_slider(
        "Discard ratio",
        DISCARD_OPTIONS,
        key="attention_discard",
        format_func="{:.0%}".format,
        help=DISCARD_RATIO_HELP,
    )
    rolled = query_rollout(attentions, geometry, query, fusion, discard)
    image_slot.image(overlay(result.view, scale_to_view(rolled, size)), width="stretch")
    st.caption(f"All layers combined, read from {query.describe()}.")

# --- every layer and head at once ----------------------------------------------------------------
st.subheader("Every layer and head")
st.caption(ATTENTION_GRID_CAPTION + " The outlined tile is the one enlarged above.")
tiles = query_tiles(attentions, geometry, query)
outline = (layer - 1, int(head) - 1) if head != "mean" else None
st.plotly_chart(
    attention_grid_figure(tiles, scaled=scaled, selected=outline),
    key="attention_grid",
    config=PLOTLY_CONFIG,
    theme=None,  # keep the figure's own colour scale: Streamlit's theme recolours heatmaps
    width="content",
)
