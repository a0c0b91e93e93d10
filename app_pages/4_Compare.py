"""Compare: a table of images × models — each cell the top prediction and one explanation map."""

import streamlit as st

from vitdemo.ui.cache import STANDARD_METHODS, explanation
from vitdemo.ui.comparison import accuracy_by_model, knows_label
from vitdemo.ui.figures import accuracy_bar_chart
from vitdemo.ui.guard import logged_line
from vitdemo.ui.texts import PAGE_INTROS, method_sentence, method_title, short_label
from vitdemo.ui.tiles import DIMMED_TILE, show_tile
from vitdemo.ui.widgets import PLOTLY_CONFIG, require_images, require_models

MAX_IMAGES = 24

st.title("Compare")
st.write(PAGE_INTROS["compare"])

images = require_images(limit=MAX_IMAGES)
models = require_models()

shown = (
    st.segmented_control(
        "Map in each cell",
        list(STANDARD_METHODS),
        default="gradcam",
        key="compare_map",
        format_func=method_title,
        help="Grad-CAM exists for both families; the attention maps only for ViTs.",
    )
    or "gradcam"
)
st.caption(
    f"**{method_title(shown)}**: {method_sentence(shown)} Each cell explains that model's own top-1 class."
)

results: dict[tuple[str, str], object] = {}  # (spec, digest) → ExplainResult or an error line
progress = st.progress(0.0, text="Explaining…")
jobs = [(image, model) for image in images if image.ok for model in models]
for done, (image, model) in enumerate(jobs, start=1):
    try:
        results[(model.spec, image.digest)] = explanation(model.spec, image, methods=STANDARD_METHODS)
    except Exception as err:  # one failing cell must not blank the table
        results[(model.spec, image.digest)] = logged_line(err, f"Compare: {model.spec} on {image.name}")
    progress.progress(done / max(1, len(jobs)), text=f"Explained {done} of {len(jobs)}")
progress.empty()


def cell(image, model) -> None:
    """One table cell: the overlay (or why there is none) and the top prediction."""
    result = results.get((model.spec, image.digest))
    if isinstance(result, str):
        st.error(result)
        return
    top = result.top_k[0]
    show_tile(result, shown if shown in result.maps else DIMMED_TILE)  # encoded once, shared with Explore
    verdict = ""
    if image.true_label and knows_label(model.labels, image.true_label):
        right = top.label.lower() == image.true_label.lower()
        verdict = " :green[✓ right]" if right else f" :red[✗ wrong] (truth: {image.true_label})"
    st.markdown(f"**{short_label(top.label)}** {top.prob:.0%}{verdict}")
    if shown not in result.maps:
        st.caption(result.unavailable.get(shown, "Not available for this model."))


# Cells stay thumbnail-sized even with one model, so a long batch still reads as a table.
widths = [1] * (1 + len(models)) + ([4 - len(models)] if len(models) < 4 else [])
header = st.columns(widths, gap="small")
header[0].markdown("**Image**")
for column, model in zip(header[1:], models, strict=False):
    column.markdown(f"**{model.spec}**", help=model.source)
for image in images:
    row = st.columns(widths, gap="small", vertical_alignment="top")
    with row[0]:
        if image.ok:
            st.image(image.image, width="stretch")
        st.caption(image.name)
    if not image.ok:
        row[1].error(image.error, icon=":material/broken_image:")
        continue
    for column, model in zip(row[1:], models, strict=False):
        with column:
            cell(image, model)

# --- summary: accuracy where the truth is known ------------------------------------------------
labelled = [image for image in images if image.ok and image.true_label]
accuracy = accuracy_by_model(models, [(image.digest, image.true_label) for image in labelled], results)
if accuracy:
    st.subheader("How often is each model right?")
    st.caption(
        "Counted on the gallery Shapes images, whose true class is known, for the models that know the "
        "Shapes classes; uploads are left out."
    )
    st.plotly_chart(accuracy_bar_chart(accuracy, len(labelled)), key="compare_accuracy", config=PLOTLY_CONFIG)
