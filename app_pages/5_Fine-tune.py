"""Fine-tune page: launch a small run, watch it learn live, then explain the result on the other pages.

Thin on purpose: the run manager (vitdemo.train) does the work in a background thread and lives in
st.cache_resource, so closing the tab never kills a run; this page only reads widgets, submits, and
polls the run directory with a `run_every` fragment.
"""

from __future__ import annotations

import streamlit as st

from vitdemo.train import FineTuneConfig, RunDir, RunManager, default_runs_root, list_runs, snapshot
from vitdemo.train.data import preview_dataset, save_upload
from vitdemo.train.run_dir import trained_models
from vitdemo.ui.cache import cached_model
from vitdemo.ui.guard import shown_errors
from vitdemo.ui.training_charts import (
    class_counts_chart,
    confusion_matrix_chart,
    epoch_metrics_chart,
    format_eta,
    metrics_rows,
    step_loss_chart,
)

BASE_MODELS = ["demo-vit", "demo-resnet", "demo-hybrid", "vit", "resnet"]
OTHER_MODEL = "other (type a model spec)…"
DATA_SOURCES = ["Shapes (built in)", "Upload a .zip / .tar.gz", "Folder on the server"]
ARCHIVE_UPLOAD_MB = 200  # image folders are bigger than the single photos the app's default limit is for
POLL_SECONDS = 1.0


@st.cache_resource(show_spinner=False)
def run_manager(root: str) -> RunManager:
    """One manager per runs folder for the whole server: runs outlive tabs and sessions."""
    return RunManager(root)


@st.cache_data(show_spinner="Looking at the dataset…", max_entries=16)
def cached_preview(data: str, classes: tuple[str, ...] | None, per_class: int, root: str):
    config = FineTuneConfig(
        data=data, shapes_classes=list(classes) if classes else None, shapes_per_class=per_class
    )
    return preview_dataset(config, root, per_class_examples=1)


def data_settings(root: str) -> dict | None:
    """The data widgets → FineTuneConfig fields, or None until there is data to use."""
    from vitdemo.data.shapes import SHAPE_CLASSES

    source = st.radio("Images", DATA_SOURCES, horizontal=True, key="ft_source")
    if source == DATA_SOURCES[0]:
        classes = st.multiselect("Shapes classes", SHAPE_CLASSES, default=SHAPE_CLASSES, key="ft_shapes")
        per_class = st.slider(
            "Images per class (training + validation)", 6, 200, 40, step=2, key="ft_per_class"
        )
        return {"data": "shapes", "shapes_classes": classes, "shapes_per_class": per_class}
    if source == DATA_SOURCES[1]:
        upload = st.file_uploader(
            "Archive with one folder per class (cat/…, dog/…)",
            type=["zip", "gz", "tgz", "tar"],
            max_upload_size=ARCHIVE_UPLOAD_MB,
            key="ft_upload",
        )
        if upload is None:
            st.info("Upload an archive to continue, or use the built-in Shapes dataset.")
            return None
        return {"data": str(save_upload(upload.getvalue(), upload.name, root))}
    folder = st.text_input("Folder on the server (one sub-folder per class)", key="ft_folder")
    if not folder.strip():
        st.info("Type the path of an image folder to continue.")
        return None
    return {"data": folder.strip()}


def show_preview(settings: dict, root: str) -> bool:
    """Class counts and one image per class; False when the dataset cannot be used."""
    with shown_errors("dataset preview"):
        classes = tuple(settings.get("shapes_classes") or ()) or None
        preview = cached_preview(settings["data"], classes, settings.get("shapes_per_class", 40), root)
        left, right = st.columns([2, 3])
        left.plotly_chart(class_counts_chart(preview.counts), key="ft_counts")
        with right:
            st.caption(
                f"{preview.source}: {sum(preview.counts.values())} images in {len(preview.classes)} classes"
            )
            if preview.examples:
                st.image([image for _, image in preview.examples[:8]],
                         caption=[name for name, _ in preview.examples[:8]], width=90)  # fmt: skip
            if preview.ignored_files:
                st.caption(f"{preview.ignored_files} files that are not images will be ignored.")
        return True
    return False


def model_choice(root: str) -> str:
    runs = trained_models(root)
    options = BASE_MODELS + [spec for spec, _ in runs] + [OTHER_MODEL]
    labels = dict(runs)
    choice = st.selectbox("Start from model", options, key="ft_model", format_func=lambda s: labels.get(s, s))
    if choice == OTHER_MODEL:
        return st.text_input(
            "Model spec", placeholder="timm:vit_small_patch16_224 or a model folder", key="ft_spec"
        )
    return choice


def training_settings() -> dict:
    mode = st.radio("What learns", ["head", "last-N blocks", "full"], horizontal=True, key="ft_mode",
                    help="head: only a new classifier on frozen features (fast, the classroom default). "
                    "last-N: the last N blocks too. full: every weight.")  # fmt: skip
    if mode == "last-N blocks":
        mode = f"last-{st.number_input('N (blocks)', 1, 48, 2, key='ft_last_n')}"
    with st.expander("Hyper-parameters"):
        a, b, c = st.columns(3)
        settings = {
            "mode": mode,
            "epochs": a.number_input("Epochs", 1, 500, 20 if mode == "head" else 5, key="ft_epochs"),
            "batch_size": b.number_input("Batch size", 1, 512, 32, key="ft_batch"),
            "lr": c.number_input(
                "Learning rate (0 = default for the mode)", 0.0, 1.0, 0.0, format="%.5f", key="ft_lr"
            )
            or None,
            "optimizer": a.selectbox("Optimizer", ["adamw", "sgd"], key="ft_opt"),
            "schedule": b.selectbox("Schedule", ["cosine", "step", "constant"], key="ft_sched"),
            "weight_decay": c.number_input("Weight decay", 0.0, 1.0, 0.01, format="%.4f", key="ft_wd"),
            "val_fraction": a.slider("Validation share", 0.1, 0.5, 0.2, key="ft_val"),
            "seed": b.number_input("Seed", 0, 2**31 - 1, 0, key="ft_seed"),
            "soup_k": c.number_input("Average best K epochs (0 = off)", 0, 10, 0, key="ft_soup"),
            "augment": a.toggle("Augmentation", False, key="ft_augment"),
        }
    return settings


def new_run_form(manager: RunManager, root: str) -> None:
    data = data_settings(root)
    if data is None or not show_preview(data, root):
        return
    model = model_choice(root)
    settings = training_settings()
    if st.button("Start fine-tuning", type="primary", key="ft_start", disabled=not model):
        with shown_errors("starting a run"):
            config = FineTuneConfig(model=model, **data, **settings).validate()
            # The app's shared model: a load error shows here, and the run fine-tunes a private copy.
            shared = cached_model(model)
            st.session_state["ft_run"] = manager.submit(config, model=shared)
            st.session_state["ft_view_run"] = st.session_state["ft_run"]
            st.toast(f"Run {st.session_state['ft_run']} queued.")


def queue_line(manager: RunManager) -> None:
    running, waiting = manager.running(), manager.queued()
    if running or waiting:
        parts = [f"running on {device}: {run_id}" for device, run_id in running.items()]
        if waiting:
            parts.append(f"waiting: {', '.join(waiting)}")
        st.caption("Queue — " + "; ".join(parts) + ". One run at a time per device.")


def run_panel(manager: RunManager, run: RunDir) -> None:
    """The live view of one run; reruns itself every POLL_SECONDS while the run is active."""
    view = snapshot(run)
    if view.active:
        eta = format_eta(view.eta_seconds)
        st.progress(
            view.fraction,
            text=f"{view.state}: {view.progress_text}" + (f" · about {eta} left" if eta else ""),
        )
        if manager.is_active(view.run_id):
            st.button("Stop", key=f"ft_stop_{view.run_id}", on_click=manager.stop, args=(view.run_id,),
                      help="Stops after the current step and keeps the last checkpoint.")  # fmt: skip
        else:
            st.caption("This run belongs to another process (e.g. the command line); stop it there.")
    elif view.state == "failed":
        st.error(view.message or "The run failed.", icon=":material/error:")
    elif view.state == "interrupted":
        st.warning(view.message, icon=":material/warning:")
    elif view.state in ("stopped", "cancelled"):
        st.info(view.message or f"The run was {view.state}.")
    if any(m.get("kind") == "step" for m in view.metrics):
        left, right = st.columns(2)
        left.plotly_chart(step_loss_chart(view.metrics), key=f"ft_loss_{view.run_id}")
        right.plotly_chart(epoch_metrics_chart(view.metrics), key=f"ft_epochs_{view.run_id}")
    if view.results.get("after"):
        show_results(view)
    if view.active != st.session_state.get(f"ft_was_active_{view.run_id}", view.active):
        st.session_state[f"ft_was_active_{view.run_id}"] = view.active
        st.rerun()  # the run ended: redraw the whole page (stops polling, lists the new model)
    st.session_state[f"ft_was_active_{view.run_id}"] = view.active


def show_results(view) -> None:
    results, after = view.results, view.results["after"]
    st.subheader("Results on the validation images")
    st.dataframe(metrics_rows(results), hide_index=True,
                 column_config={k: st.column_config.NumberColumn(format="%.3f") for k in ("accuracy", "macro F1", "ROC-AUC", "loss")})  # fmt: skip
    st.caption(f"Chance level: {results['chance_accuracy']:.1%}. Skipped unreadable images: "
               f"{results['data']['skipped_count']}.")  # fmt: skip
    left, right = st.columns(2)
    left.plotly_chart(
        confusion_matrix_chart(after["confusion_matrix"], view.labels), key=f"ft_cm_{view.run_id}"
    )
    per_class = [{"class": k, "accuracy": v} for k, v in after["per_class_accuracy"].items()]
    right.dataframe(per_class, hide_index=True)
    if view.has_model:
        right.markdown("Explain it on the other pages with the model spec:")
        right.code(view.path, language=None)


def runs_section(manager: RunManager) -> None:
    runs = list_runs(manager.root)
    if not runs:
        st.caption("No runs yet.")
        return
    ids = [r.run_id for r in runs]
    if st.session_state.get("ft_view_run") not in ids:
        st.session_state.pop("ft_view_run", None)  # its run folder was removed
    chosen = st.selectbox("Run", ids, key="ft_view_run")  # newest first: reopening the page shows the latest
    run = RunDir(manager.root / chosen)
    active = snapshot(run).active
    st.fragment(run_every=POLL_SECONDS if active else None)(run_panel)(manager, run)


st.title("Fine-tune")
st.caption(
    "Teach a model new classes: pick images and a model, press Start, and watch it learn. "
    "Runs continue when you close the tab; come back to see them."
)
ROOT = str(default_runs_root())
MANAGER = run_manager(ROOT)
with st.container(border=True):
    st.subheader("New run")
    new_run_form(MANAGER, ROOT)
st.subheader("Runs")
queue_line(MANAGER)
runs_section(MANAGER)
