"""Models & about: what each model is, where it comes from, how ViTs and the explanation methods work."""

import streamlit as st

from vitdemo.explain.methods import METHODS
from vitdemo.explain.position_embeddings import position_similarity
from vitdemo.ui.figures import position_similarity_figure
from vitdemo.ui.model_facts import model_facts
from vitdemo.ui.sidebar import model_catalogue
from vitdemo.ui.texts import (
    FAITHFULNESS_HELP,
    FETCH_HELP,
    MASK_SCORE_HELP,
    PAGE_INTROS,
    POSITION_CAPTION,
    STATUS_TEXT,
    VIT_EXPLAINER,
    method_reference,
    method_sentence,
    method_title,
)
from vitdemo.ui.widgets import PLOTLY_CONFIG, load_chosen_models

st.title("Models & about")
st.write(PAGE_INTROS["models"])
chosen = load_chosen_models()
models_tab, vit_tab, methods_tab = st.tabs(["Models", "How a ViT sees", "Explanation methods"])

with models_tab:
    st.subheader("Models on this machine and known downloads")
    # A static table: long model names and descriptions wrap instead of being cut off.
    st.table(
        [
            {
                "model": row.spec,
                "what it is": row.description,
                "status": STATUS_TEXT.get(row.status, row.status),
            }
            for row in model_catalogue()
        ],
        hide_index=True,
    )
    st.info(FETCH_HELP, icon=":material/download:")
    st.code(
        "python -m vitdemo fetch vit resnet   # the default ImageNet models\n"
        "python -m vitdemo models             # what works offline here",
        language="bash",
    )

    st.subheader("The models you picked")
    if not chosen:
        st.caption("Pick models in the sidebar to see their details here.")
    for model in chosen:
        with st.expander(f"{model.spec}", expanded=len(chosen) == 1):
            st.markdown("\n".join(f"- **{name}**: {value}" for name, value in model_facts(model)))

with vit_tab:
    st.markdown(VIT_EXPLAINER)
    st.subheader("Position embeddings")
    vits = [model for model in chosen if model.family == "vit"]
    if not vits:
        st.caption("Pick a Vision Transformer in the sidebar to plot its position embeddings.")
    else:
        specs = [model.spec for model in vits]
        model = (
            vits[specs.index(st.selectbox("Vision Transformer", specs, key="about_vit"))]
            if len(vits) > 1
            else vits[0]
        )
        similarity = position_similarity(model)
        if similarity is None:
            st.caption(f"{model.spec} has no learned table of absolute position embeddings to plot.")
        else:
            st.caption(POSITION_CAPTION)
            st.plotly_chart(
                position_similarity_figure(similarity),
                key="position_similarity",
                config=PLOTLY_CONFIG,
                theme=None,  # keep the figure's own colour scale: Streamlit's theme recolours heatmaps
                width="content",
            )

with methods_tab:
    for name in METHODS.names():
        st.markdown(f"**{method_title(name)}**: {method_sentence(name)}  \n*{method_reference(name)}*")
    st.subheader("How far to trust a map")
    st.markdown(f"{FAITHFULNESS_HELP}\n\n{MASK_SCORE_HELP}")
