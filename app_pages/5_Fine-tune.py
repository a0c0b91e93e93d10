"""Fine-tune page: launch a small run, watch it learn live, then explain the result on the other pages.

Thin on purpose: the run manager (vitdemo.train) trains each run in a worker process of its own,
so closing the tab or restarting the app never kills a run, and watching it never slows it; this
page only reads widgets, submits, and polls the run directories with two `run_every` fragments:
the queue line and progress every POLL_SECONDS, the charts (built once per new metrics row for
every tab) every CHART_SECONDS.
"""

from __future__ import annotations

import streamlit as st

from vitdemo.train import FineTuneConfig, RunDir, RunManager, default_runs_root, list_runs, snapshot
from vitdemo.train.config import MODE_KINDS, OPTIMIZERS, SCHEDULES, default_epochs
from vitdemo.train.data import preview_dataset, save_upload
from vitdemo.train.run_dir import ACTIVE_STATES, trained_models
from vitdemo.ui.cache import cached_model
from vitdemo.ui.guard import shown_errors
from vitdemo.ui.runs import run_manager
from vitdemo.ui.training_charts import (
    class_counts_chart,
    confusion_matrix_chart,
    format_eta,
    live_run_figures,
    metrics_rows,
)

BASE_MODELS = ["demo-vit", "demo-resnet", "demo-hybrid", "vit", "resnet"]
OTHER_MODEL = "other (type a model spec)…"
DATA_SOURCES = ["Shapes (built in)", "Upload a .zip / .tar.gz", "Folder on the server"]
ARCHIVE_UPLOAD_MB = 200  # image folders are bigger than the single photos the app's default limit is for
# How often a watching tab refreshes. Each fragment rerun costs the browser far more than the
# server: measured in headless Chromium, ~0.12 CPU-s per rerun for a trivial fragment and ~0.5 for
# this page's status and charts, against ~0.01 on the server. At one rerun per second, three
# watching tabs on this 2-core machine took 0.75 of a core from the run they watched (and a weak
# classroom laptop spends half a core just watching). Five watching tabs in one headless Chromium
# (`benchmarks/classroom_load.py --phases finetune`) let the run keep 0.65–0.88× of its speed with
# the progress every 2 s and the charts every 6 s in two fragments, 0.56× with charts every 10 s
# (runs differ that much), 0.40× with one fragment for both every 3 s: the charts are most of a
# rerun's cost, and a progress line alone is cheap. The loss curve still moves while you look.
# Re-measured with each party's cores (README, Performance): 0.53–0.69× at 2 s / 6 s, 0.65× at
# 3 s / 9 s; the server's own share of five watching tabs is 0.05 of a core, the rest is their browser.
POLL_SECONDS = 2.0  # the queue line, the progress bar and Stop
CHART_SECONDS = 6.0
MODE_LABELS = {"head": "head", "last": "last-N blocks", "full": "full"}
DEFAULTS = FineTuneConfig()  # every default below comes from the config, not retyped here


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
        per_class = st.slider("Images per class (training + validation)", 6, 200,
                              DEFAULTS.shapes_per_class, step=2, key="ft_per_class")  # fmt: skip
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


def _mode() -> str:
    """The mode the widgets say: "head", "last-N" or "full"."""
    kind = st.session_state.get("ft_mode", DEFAULTS.mode)
    return f"last-{st.session_state.get('ft_last_n', 2)}" if kind == "last" else kind


def _epochs_follow_mode() -> None:
    st.session_state["ft_epochs"] = default_epochs(_mode())


def training_settings() -> dict:
    st.radio("What learns", MODE_KINDS, format_func=MODE_LABELS.get, horizontal=True, key="ft_mode",
             on_change=_epochs_follow_mode,
             help="head: only a new classifier on frozen features (fast, the classroom default). "
             "last-N: the last N blocks too. full: every weight.")  # fmt: skip
    if st.session_state["ft_mode"] == "last":
        st.number_input("N (blocks)", 1, 48, 2, key="ft_last_n")
    mode = _mode()
    st.session_state.setdefault("ft_epochs", default_epochs(mode))  # then follows each mode change
    with st.expander("Hyper-parameters"):
        a, b, c = st.columns(3)
        settings = {
            "mode": mode,
            "epochs": a.number_input("Epochs", 1, 500, key="ft_epochs"),
            "batch_size": b.number_input("Batch size", 1, 512, DEFAULTS.batch_size, key="ft_batch"),
            "lr": c.number_input(
                "Learning rate (0 = default for the mode)", 0.0, 1.0, 0.0, format="%.5f", key="ft_lr"
            )
            or None,
            "optimizer": a.selectbox("Optimizer", OPTIMIZERS, key="ft_opt"),
            "schedule": b.selectbox("Schedule", SCHEDULES, key="ft_sched"),
            "weight_decay": c.number_input(
                "Weight decay", 0.0, 1.0, DEFAULTS.weight_decay, format="%.4f", key="ft_wd"
            ),
            "val_fraction": a.slider("Validation share", 0.1, 0.5, DEFAULTS.val_fraction, key="ft_val"),
            "seed": b.number_input("Seed", 0, 2**31 - 1, DEFAULTS.seed, key="ft_seed"),
            "soup_k": c.number_input(
                "Average best K epochs (0 = off)", 0, 10, DEFAULTS.soup_k, key="ft_soup"
            ),
            "augment": a.toggle("Augmentation", DEFAULTS.augment, key="ft_augment"),
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


def queue_line(running: dict[str, str], waiting: list[str]) -> None:
    """Who trains now and who waits, read from the run folders at this refresh (never stale)."""
    if not (running or waiting):
        return
    mine = st.session_state.get("ft_run")

    def name(run_id: str) -> str:
        return f"{run_id} (yours)" if run_id == mine else run_id

    parts = [f"running on {device}: {name(run_id)}" for device, run_id in running.items()]
    if waiting:
        parts.append(f"waiting: {', '.join(map(name, waiting))}")
    st.caption("Queue — " + "; ".join(parts) + ". One run at a time per device.")


def live_status(manager: RunManager, run: RunDir, polling: bool) -> None:
    """The queue line and the run's progress, refreshed together every POLL_SECONDS while anything runs."""
    running, waiting = manager.queue()
    queue_line(running, waiting)
    view = snapshot(run)
    run_status(manager, view)
    busy = view.active or bool(running or waiting)
    ended = view.active != st.session_state.get(f"ft_was_active_{view.run_id}", view.active)
    st.session_state[f"ft_was_active_{view.run_id}"] = view.active
    if ended or busy != polling:
        st.rerun()  # the run ended or the queue emptied: redraw the page (lists the new model, stops polling)


def run_status(manager: RunManager, view) -> None:
    """One run: progress and Stop while active, its message when it ended."""
    if view.active:
        eta = format_eta(view.eta_seconds)
        st.progress(
            view.fraction,
            text=f"{view.state}: {view.progress_text}" + (f" · about {eta} left" if eta else ""),
        )
        if manager.can_stop(view.run_id):
            st.button("Stop", key=f"ft_stop_{view.run_id}", on_click=manager.stop, args=(view.run_id,),
                      help="Stops after the current step and keeps the last checkpoint.")  # fmt: skip
        else:
            st.caption("This run's process does not take stop requests (e.g. a torchrun job); stop it there.")
    elif view.state == "failed":
        st.error(view.message or "The run failed.", icon=":material/error:")
    elif view.state == "interrupted":
        st.warning(view.message, icon=":material/warning:")
    elif view.state in ("stopped", "cancelled"):
        st.info(view.message or f"The run was {view.state}.")


def live_charts(run: RunDir) -> None:
    """The run's loss and epoch charts, then its results once it has them (every CHART_SECONDS)."""
    view = snapshot(run)
    if any(m.get("kind") == "step" for m in view.metrics):
        step_chart, epoch_chart = live_run_figures(view.path, view.metrics)  # shared by all tabs
        left, right = st.columns(2)
        left.plotly_chart(step_chart, key=f"ft_loss_{view.run_id}")
        right.plotly_chart(epoch_chart, key=f"ft_epochs_{view.run_id}")
    if view.results.get("after"):
        show_results(view)


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
    chosen = st.selectbox("Run", ids, key="ft_view_run")  # newest started first: a new visitor sees it
    run = RunDir(manager.root / chosen)
    polling = run.status().get("state") in ACTIVE_STATES or manager.has_active()
    st.fragment(run_every=POLL_SECONDS if polling else None)(live_status)(manager, run, polling)
    st.fragment(run_every=CHART_SECONDS if polling else None)(live_charts)(run)


st.title("Fine-tune")
# While a run is active the fragments below rerun every few seconds, and Streamlit's "Running…"
# indicator would flash in the corner each time; the progress line already says what runs. Hidden,
# it also stops costing each watching browser ~30 % of a refresh's drawing (headless Chromium, one
# tab: 0.078 → 0.053 of a core with the progress line every 2 s).
st.html("<style>[data-testid=stStatusWidget] {display: none}</style>")
st.caption(
    "Teach a model new classes: pick images and a model, press Start, and watch it learn. "
    "Runs continue when you close the tab; come back to see them."
)
ROOT = str(default_runs_root())
MANAGER = run_manager(ROOT)  # the one app.py created at the server's start
with st.container(border=True):
    st.subheader("New run")
    new_run_form(MANAGER, ROOT)
st.subheader("Runs")
runs_section(MANAGER)
