"""The sidebar every page shares: which models and which images.

It is drawn by `app.py` on every run, before the page, so its widgets keep their values when the
user switches pages (Streamlit forgets the state of widgets that are not drawn). Pages read the
choice back with `chosen_specs()` and `chosen_images()`.
"""

from __future__ import annotations

import os

import streamlit as st

from vitdemo.models import ModelInfo, list_models
from vitdemo.models.specs import DEFAULT_DEMO_SPECS
from vitdemo.ui.image_items import SessionImage, gallery_items, photo_gallery, shapes_gallery

MODELS_ENV = "VITDEMO_MODELS"
MODELS_KEY = "vitdemo_models"
UPLOADS_KEY = "vitdemo_uploads"
GALLERY_KEY = "vitdemo_gallery"
# True while the gallery holds only the starter sample a new session was given (not a user's pick).
STARTER_KEY = "vitdemo_gallery_is_starter"
MAX_MODELS = 4
DEFAULT_GALLERY = ("Shapes: star (plain)",)
# Offered in the file chooser; anything else still reaches our loader, which names what it is.
UPLOAD_TYPES = ["png", "jpg", "jpeg", "webp", "gif", "bmp", "tif", "tiff", "heic", "heif", "avif"]
STATUS_MARK = {"bundled": "offline", "cached": "offline", "download": "needs download", "missing": "missing"}


@st.cache_data(ttl=60, show_spinner=False)
def model_catalogue() -> list[ModelInfo]:
    """`list_models()`, re-read at most once a minute (it scans the disk, never the network)."""
    return list_models()


def default_specs(catalogue: list[ModelInfo]) -> list[str]:
    """The models a new session starts with.

    `VITDEMO_MODELS` (comma-separated specs) lets a teacher or a Space preset them, e.g.
    `VITDEMO_MODELS=vit,resnet streamlit run app.py`; otherwise demo-vit and demo-resnet when
    present: offline, fast, and trained on the gallery's Shapes (demo-hybrid is one click away).
    """
    preset = os.environ.get(MODELS_ENV, "")
    if preset.strip():
        return [spec.strip() for spec in preset.split(",") if spec.strip()][:MAX_MODELS]
    return [row.spec for row in catalogue if row.status == "bundled" and row.spec in DEFAULT_DEMO_SPECS]


def model_label(spec: str, catalogue: dict[str, ModelInfo]) -> str:
    """How a spec appears in the picker: its name and whether it works offline."""
    row = catalogue.get(spec)
    if row is None:
        return spec
    return f"{spec} · {STATUS_MARK.get(row.status, row.status)}"


def gallery_names(catalogue: list[ModelInfo]) -> list[str]:
    """Shapes samples always; real photos only when an ImageNet-style model can explain them.

    Photos mean nothing to the Shapes demo models, so they are offered once a pretrained model is
    in the local cache or a non-demo model is picked.
    """
    chosen = st.session_state.get(MODELS_KEY) or []
    pretrained_here = any(row.status == "cached" for row in catalogue)
    non_demo_chosen = any(not str(spec).startswith("demo-") for spec in chosen)
    photos = [item.name for item in photo_gallery()] if pretrained_here or non_demo_chosen else []
    return [item.name for item in shapes_gallery()] + photos


def render_sidebar() -> None:
    """Draw the model picker and the image inputs (call once per run, from app.py)."""
    catalogue = {row.spec: row for row in model_catalogue()}
    if MODELS_KEY not in st.session_state:
        st.session_state[MODELS_KEY] = default_specs(list(catalogue.values()))
    # Specs typed by the user stay selectable after page switches.
    options = list(catalogue) + [s for s in st.session_state[MODELS_KEY] if s not in catalogue]

    st.subheader("Models")
    st.multiselect(
        "Models to explain",
        options,
        key=MODELS_KEY,
        format_func=lambda spec: model_label(spec, catalogue),
        accept_new_options=True,
        max_selections=MAX_MODELS,
        placeholder="Pick or type a model",
        help=(
            "Pick a ViT, a ResNet or both to compare them. Type any other spec: timm:NAME, "
            "hf:OWNER/REPO, a model folder, or add @random for untrained weights."
        ),
    )
    st.caption(
        "**offline**: works without internet. **needs download**: run `python -m vitdemo fetch NAME` "
        "once. The *Models & about* page describes each one."
    )

    offered = gallery_names(list(catalogue.values()))
    _choose_gallery_defaults(offered)
    st.subheader("Images")
    st.file_uploader(
        "Upload images",
        type=UPLOAD_TYPES,
        accept_multiple_files=True,
        key=UPLOADS_KEY,
        help="Photos or drawings; large photos are scaled down. Nothing leaves this server.",
    )
    st.multiselect(
        "Gallery samples",
        offered,
        key=GALLERY_KEY,
        placeholder="Pick sample images",
        help="Shapes images come with their true class and object outline, so you can check where a model looks.",
        on_change=_gallery_touched,
    )


def _choose_gallery_defaults(offered: list[str]) -> None:
    """A new session starts with a starter sample, which steps aside when its first upload arrives.

    The starter shows what the pages do before anyone has a picture; after an upload, the student's
    own picture is what they came for. Keeping the starter would also redraw a second image block
    on every upload, which in a class of twenty tabs is browser time nobody asked for. A sample the
    user picked (or kept by touching the gallery) stays.
    """
    if GALLERY_KEY not in st.session_state:
        st.session_state[GALLERY_KEY] = [n for n in DEFAULT_GALLERY if n in offered]
        st.session_state[STARTER_KEY] = True
    elif st.session_state.get(STARTER_KEY) and st.session_state.get(UPLOADS_KEY):
        st.session_state[GALLERY_KEY] = []
        st.session_state[STARTER_KEY] = False
    else:  # a photo picked for a model that is no longer chosen drops out with it
        st.session_state[GALLERY_KEY] = [n for n in st.session_state[GALLERY_KEY] if n in offered]


def _gallery_touched() -> None:
    st.session_state[STARTER_KEY] = False


def chosen_specs() -> list[str]:
    """The model specs picked in the sidebar, in the order shown."""
    return [s.strip() for s in st.session_state.get(MODELS_KEY) or [] if str(s).strip()]


def chosen_images() -> list[SessionImage]:
    """Uploaded images first (in upload order), then gallery picks."""
    items = [SessionImage.from_bytes(f.name, f.getvalue()) for f in st.session_state.get(UPLOADS_KEY) or []]
    gallery = gallery_items()
    items += [gallery[name] for name in st.session_state.get(GALLERY_KEY) or [] if name in gallery]
    return items
