"""vitdemo — see how Vision Transformers and ResNets see images.

    streamlit run app.py

The entry script only sets up the page, the navigation and the shared sidebar (models and
images); each page in app_pages/ is a flat script. Every page runs inside `shown_errors`, so an
unexpected failure is one line on the page, never a traceback.

Why app_pages/ and not pages/: Streamlit treats a folder named `pages` next to the entry script as
an old-style multipage app until `st.navigation` has run once in the process, so a first visit to a
direct link (/Attention) on a fresh server would run that page alone, without this script's sidebar.
"""

from pathlib import Path

import streamlit as st

from vitdemo.ui.cache import server_torch_threads
from vitdemo.ui.guard import shown_errors
from vitdemo.ui.runs import shared_run_manager
from vitdemo.ui.sidebar import render_sidebar
from vitdemo.ui.timing import mark

mark("app_start")

st.set_page_config(
    page_title="vitdemo · how ViTs and ResNets see",
    # A local file: a Material icon here would make the browser fetch the favicon from Google's font
    # CDN (the in-page icons use the font Streamlit bundles), which fails offline.
    page_icon=str(Path(__file__).parent / "assets" / "icon.png"),
    layout="wide",
)

page = st.navigation(
    [
        st.Page("app_pages/1_Explore.py", title="Explore", icon=":material/image_search:", default=True),
        st.Page("app_pages/2_Attention.py", title="Attention", icon=":material/grid_view:"),
        st.Page("app_pages/3_Grad-CAM.py", title="Grad-CAM", icon=":material/local_fire_department:"),
        st.Page("app_pages/4_Compare.py", title="Compare", icon=":material/compare:"),
        st.Page("app_pages/5_Fine-tune.py", title="Fine-tune", icon=":material/model_training:"),
        st.Page("app_pages/7_Inside_the_ViT.py", title="Inside the ViT", icon=":material/biotech:"),
        st.Page("app_pages/6_Models_and_about.py", title="Models & about", icon=":material/info:"),
    ]
)

# The fine-tuning run manager exists from the server's first page view, whatever the page: runs
# left queued by a restart resume now, not when someone opens the Fine-tune page.
with shown_errors("the fine-tuning queue"):
    shared_run_manager()
server_torch_threads()

with st.sidebar, shown_errors("the sidebar"):
    render_sidebar()

with shown_errors(f"the {page.title} page"):
    page.run()
