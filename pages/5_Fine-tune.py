"""Fine-tune page: a placeholder until the fine-tuning issue fills it in."""

import streamlit as st

st.title("Fine-tune")
st.info(
    "Fine-tuning is coming: soon you will be able to train a ViT or a ResNet on your own image "
    "folders or on the Shapes dataset here, with live loss charts, and then explain the result "
    "on the other pages.",
    icon=":material/construction:",
)
