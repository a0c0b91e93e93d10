"""The Streamlit app, driven headlessly with AppTest: every page, uploads, bad input, caching.

The app runs on the tiny untrained models from conftest (64×64 input, 3 classes), chosen through
the sidebar's session state, so the tests need no bundled model and no network.
"""

from __future__ import annotations

import io
import json
import threading
from pathlib import Path

import numpy as np
import pytest
import streamlit as st
import torch
from PIL import Image
from streamlit.testing.v1 import AppTest

import vitdemo.ui.cache as app_cache
from vitdemo.data.shapes import render_shape
from vitdemo.errors import VitdemoError
from vitdemo.ui.cache import TOP_K
from vitdemo.ui.sidebar import GALLERY_KEY, MODELS_KEY

ROOT = Path(__file__).resolve().parents[1]
APP = ROOT / "app.py"
TINY_LABELS = {"circle", "square", "triangle"}
PAGES = {
    "app_pages/1_Explore.py": "Explore",
    "app_pages/2_Attention.py": "Attention",
    "app_pages/3_Grad-CAM.py": "Grad-CAM",
    "app_pages/4_Compare.py": "Compare",
    "app_pages/5_Fine-tune.py": "Fine-tune",
    "app_pages/6_Models_and_about.py": "Models & about",
}


def shape_png(index: int = 3) -> bytes:
    """A Shapes image as PNG bytes, as a user would upload it."""
    buffer = io.BytesIO()
    Image.fromarray(render_shape(2, index).image).save(buffer, format="PNG")
    return buffer.getvalue()


@pytest.fixture
def models(tiny_vit_dir, tiny_resnet_dir) -> list[str]:
    return [str(tiny_vit_dir), str(tiny_resnet_dir)]


@pytest.fixture
def app(models):
    """A fresh app session on the tiny models, with empty caches (they are per process)."""
    st.cache_resource.clear()
    st.cache_data.clear()
    threads = torch.get_num_threads()  # the app sets the process's torch threads: give them back
    at = AppTest.from_file(str(APP), default_timeout=120)
    at.session_state[MODELS_KEY] = models
    yield at
    st.cache_resource.clear()
    torch.set_num_threads(threads)


def errors(at: AppTest) -> list[str]:
    return [e.value for e in at.error]


def no_traceback(at: AppTest) -> None:
    assert not at.exception, [e.value for e in at.exception]
    page_text = " ".join(m.value for m in at.markdown) + " ".join(errors(at))
    assert "Traceback" not in page_text


def top_k_charts(at: AppTest) -> list[list[tuple[str, int]]]:
    """The Explore page's top-3 bars, one list per (image, model): (text, percent) per bar, best first.

    The page draws them as progress bars (see `vitdemo.ui.widgets.top_k_bars`); no other progress
    bar is on the page once it has finished.
    """
    bars = [(bar.text, bar.value) for bar in at.get("progress")]
    assert len(bars) % TOP_K == 0, bars
    return [bars[i : i + TOP_K] for i in range(0, len(bars), TOP_K)]


def bar_label(text: str) -> str:
    """The class name of one bar's text ("**star · 97.0%** ← the maps" → "star")."""
    return text.strip("*").split(" · ")[0]


@pytest.mark.parametrize("page", list(PAGES))
def test_every_page_renders_offline_without_errors(app, page):
    app.run()
    app.switch_page(page).run()
    no_traceback(app)
    assert errors(app) == []
    assert PAGES[page] in [t.value for t in app.title]


def test_explore_shows_three_predictions_per_model_and_the_maps_for_an_upload(app):
    app.session_state[GALLERY_KEY] = []
    app.run()
    app.sidebar.file_uploader[0].set_value(("star.png", shape_png(), "image/png"))
    app.run()
    no_traceback(app)
    assert errors(app) == []
    charts = top_k_charts(app)
    assert len(charts) == 2  # one per model
    for bars in charts:
        assert {bar_label(text) for text, _ in bars} <= TINY_LABELS
        percents = [value for _, value in bars]
        assert all(0 <= p <= 100 for p in percents) and percents == sorted(percents, reverse=True)
        assert [text.endswith("← the maps") for text, _ in bars] == [True, False, False]  # top-1 explained
    assert "#### star.png" in [m.value for m in app.markdown]
    # Per model: the input view and four map tiles (the ResNet's three attention tiles are grey
    # placeholders that say why).
    assert len(app.image) == 2 * 5
    titles = [m.value for m in app.markdown]
    for name in ("**CLS attention**", "**Attention rollout**", "**Gradient relevance**", "**Grad-CAM**"):
        assert titles.count(name) == 2
    assert any("no attention" in c.value for c in app.caption)  # the ResNet's placeholder reason
    top_guesses = [c.value for c in app.caption if c.value.startswith("Top guess: ")]
    assert len(top_guesses) == 2 and all(g.split(": ")[1].split(" (")[0] in TINY_LABELS for g in top_guesses)
    # Faithfulness is scored only when asked for: it costs ~18 model runs per map.
    assert not any("deletion" in c.value for c in app.caption)
    app.toggle(key="explore_score").set_value(True).run()
    no_traceback(app)
    scored = [c.value for c in app.caption if "deletion" in c.value and "insertion" in c.value]
    assert len(scored) == 5  # the ViT's four maps and the ResNet's Grad-CAM: every map that exists


def test_explore_shows_the_top3_from_its_own_forward_pass_before_and_without_the_maps(app, monkeypatch):
    def maps_not_ready(*args, **kwargs):
        raise VitdemoError("The maps are not ready.")

    monkeypatch.setattr(app_cache, "explain", maps_not_ready)
    app.run()
    no_traceback(app)
    assert len(top_k_charts(app)) == 2  # both models answered...
    assert len([c for c in app.caption if c.value.startswith("Top guess: ")]) == 2
    assert errors(app) == ["The maps are not ready."] * 2  # ...while their maps failed, each in its place


def test_a_bad_upload_gets_its_message_and_the_good_ones_still_render(app):
    app.session_state[GALLERY_KEY] = []
    app.run()
    app.sidebar.file_uploader[0].set_value(
        [
            ("notes.jpg", b"these are my lecture notes, not a photo\n", "image/jpeg"),
            ("good.png", shape_png(1), "image/png"),
            ("broken.png", shape_png(2)[:200], "image/png"),
        ]
    )
    app.run()
    no_traceback(app)
    messages = errors(app)
    assert len(messages) == 2
    assert messages[0].startswith("notes.jpg:") and "text file" in messages[0]
    assert messages[1].startswith("broken.png:")
    assert all("\n" not in m for m in messages)
    assert len(top_k_charts(app)) == 2  # good.png, both models


def test_the_same_picture_uploaded_twice_is_shown_once(app):
    app.session_state[GALLERY_KEY] = []
    app.run()
    app.sidebar.file_uploader[0].set_value(
        [("star.png", shape_png(), "image/png"), ("star-again.png", shape_png(), "image/png")]
    )
    app.run()
    no_traceback(app)
    assert errors(app) == []
    headings = [m.value for m in app.markdown if m.value.startswith("#### ")]
    assert headings == ["#### star.png"]
    assert len(top_k_charts(app)) == 2


def image_headings(app: AppTest) -> list[str]:
    return [
        m.value.removeprefix("#### ").split(" · ")[0] for m in app.markdown if m.value.startswith("#### ")
    ]


def test_the_starter_sample_steps_aside_for_the_first_upload_but_a_picked_sample_stays(app):
    app.run()  # a new session: the starter sample, so the page is not empty
    assert image_headings(app) == ["Shapes: star (plain)"]
    app.sidebar.file_uploader[0].set_value(("mine.png", shape_png(), "image/png"))
    app.run()
    no_traceback(app)
    assert image_headings(app) == ["mine.png"]
    assert app.session_state[GALLERY_KEY] == []

    # Picked by the user (before or after uploading): it stays next to the uploads.
    app.multiselect(key=GALLERY_KEY).set_value(["Shapes: circle (plain)"]).run()
    app.sidebar.file_uploader[0].set_value(
        [("mine.png", shape_png(), "image/png"), ("another.png", shape_png(5), "image/png")]
    )
    app.run()
    no_traceback(app)
    assert image_headings(app) == ["mine.png", "another.png", "Shapes: circle (plain)"]


class ModelCalls:
    """Counts `explain` calls and network forward passes of the app's shared models."""

    def __init__(self, monkeypatch):
        self.explains = 0
        self.forwards = 0
        self.cam_layers: list[str | None] = []  # the Grad-CAM layer each explain call asked for
        real = app_cache.explain

        def counting_explain(*args, **kwargs):
            self.explains += 1
            self.cam_layers.append(kwargs.get("cam_layer"))
            return real(*args, **kwargs)

        monkeypatch.setattr(app_cache, "explain", counting_explain)
        self._handles = []

    def watch(self, specs: list[str]) -> None:
        for spec in specs:
            network = app_cache.cached_model(spec).network
            self._handles.append(network.register_forward_pre_hook(self._count))

    def _count(self, module, inputs) -> None:
        self.forwards += 1

    def close(self) -> None:
        for handle in self._handles:
            handle.remove()


@pytest.fixture
def calls(monkeypatch):
    counter = ModelCalls(monkeypatch)
    yield counter
    counter.close()


def test_attention_sliders_and_page_switches_never_run_the_model_again(app, models, calls):
    app.run()  # Explore: explains the gallery image with both models
    calls.watch(models)
    explains_after_explore = calls.explains
    assert explains_after_explore == 2
    app.switch_page("app_pages/2_Attention.py").run()
    no_traceback(app)
    assert calls.explains == explains_after_explore  # the ViT's result is reused from Explore
    forwards = calls.forwards

    app.slider(key="attention_layer").set_value(1).run()
    assert "**Layer 1, mean of all heads**" in [m.value for m in app.markdown]
    app.select_slider(key="attention_head").set_value(2).run()
    assert "**Layer 1, head 2**" in [m.value for m in app.markdown]
    app.radio(key="attention_query_kind").set_value("patch").run()
    app.slider(key="attention_query_row").set_value(2).run()
    app.slider(key="attention_query_col").set_value(3).run()
    assert any("patch row 2, column 3" in c.value for c in app.caption)
    app.select_slider(key="attention_discard").set_value(0.5).run()
    app.selectbox(key="attention_fusion").set_value("max").run()
    app.radio(key="attention_scale").set_value("raw").run()
    no_traceback(app)

    assert calls.forwards == forwards, "a slider ran the network"
    assert calls.explains == explains_after_explore
    app.switch_page("app_pages/4_Compare.py").run()
    assert calls.explains == explains_after_explore  # Compare reuses the same explanations too


def test_attention_grid_has_one_tile_per_layer_and_head(app, tiny_vit_dir):
    app.run()
    app.switch_page("app_pages/2_Attention.py").run()
    grids = [json.loads(c.proto.spec) for c in app.get("plotly_chart")]
    grid = next(f for f in grids if f["layout"]["yaxis"].get("ticktext", [""])[0] == "layer 1")
    assert grid["layout"]["yaxis"]["ticktext"] == ["layer 1", "layer 2"]  # the tiny ViT: 2 layers
    assert grid["layout"]["xaxis"]["ticktext"] == ["head 1", "head 2", "head 3"]


def test_choosing_another_class_explains_that_class(app, models, calls):
    app.run()
    vit_picker = next(k for k in app.session_state if str(k).startswith(f"target:{models[0]}:"))
    picker = app.selectbox(key=vit_picker)
    second = picker.options[1]
    before = calls.explains
    picker.select(second).run()
    no_traceback(app)
    assert calls.explains == before + 1
    first_chart = top_k_charts(app)[0]
    highlighted = [bar_label(text) for text, _ in first_chart if text.endswith("← the maps")]
    assert highlighted == [bar_label(text) for text, _ in first_chart][1:2]  # the second bar, only it
    assert second.startswith(highlighted[0])


def test_grad_cam_layer_pickers_show_the_maps_of_another_layer(app, models, calls):
    app.run()
    app.switch_page("app_pages/3_Grad-CAM.py").run()
    no_traceback(app)
    vit_layers, resnet_layers = (app.selectbox(key=f"cam_layer:{spec}") for spec in models)
    # The choices come from the models: the tiny ViT has 2 blocks, resnet10t 4 stages.
    assert vit_layers.options == ["block 0 (nearest the input)", "block 1 (last, the default)"]
    assert resnet_layers.options[-1] == "layer4 (last, the default)" and len(resnet_layers.options) == 4
    assert (vit_layers.value, resnet_layers.value) == ("block:1", "layer4")
    assert any("Earlier layers" in c.value for c in app.caption)
    before = calls.explains

    resnet_layers.set_value("layer2").run()
    app.selectbox(key=f"cam_layer:{models[0]}").set_value("block:0").run()
    no_traceback(app)
    assert errors(app) == []
    assert calls.explains == before + 2 and calls.cam_layers[-2:] == ["layer2", "block:0"]
    assert len(app.image) == 2 * 4  # both models still show their four default CAM tiles
    assert [m.value for m in app.markdown].count("**Grad-CAM**") == 2
    assert any("chosen stage" in c.value for c in app.caption)

    app.selectbox(key=f"cam_layer:{models[1]}").set_value("layer4").run()
    assert calls.explains == before + 2  # the layer is part of the cache key: layer4 was cached


def test_a_model_that_is_not_here_is_one_line_and_the_others_still_work(app, models):
    app.session_state[MODELS_KEY] = ["timm:vit_base_patch16_224.augreg2_in21k_ft_in1k", models[1]]
    app.run()
    no_traceback(app)
    messages = errors(app)
    assert len(messages) == 1 and "fetch" in messages[0]
    assert len(top_k_charts(app)) == 1  # the ResNet still explains the image


def test_an_unexpected_failure_is_one_line_not_a_traceback(app, monkeypatch):
    def broken(*args, **kwargs):
        raise RuntimeError("boom\nwith a second line")

    monkeypatch.setattr(app_cache, "explain", broken)
    app.run()
    no_traceback(app)
    messages = errors(app)
    assert messages and all("Something went wrong" in m and "\n" not in m for m in messages)


def test_compare_table_scores_the_gallery_images(app):
    app.session_state[GALLERY_KEY] = ["Shapes: circle (plain)", "Shapes: square (plain)"]
    app.run()
    app.switch_page("app_pages/4_Compare.py").run()
    no_traceback(app)
    assert len(app.image) == 2 + 2 * 2  # the images, then one overlay per model
    verdicts = [m.value for m in app.markdown if "right]" in m.value or "wrong]" in m.value]
    assert len(verdicts) == 4
    assert "How often is each model right?" in [h.value for h in app.subheader]


def test_models_page_lists_offline_status_and_plots_position_embeddings(app):
    app.run()
    app.switch_page("app_pages/6_Models_and_about.py").run()
    no_traceback(app)
    table = app.table[0].value
    assert {"demo-vit", "vit"} <= set(table["model"])
    assert any("download" in s for s in table["status"])
    similarity = [json.loads(c.proto.spec) for c in app.get("plotly_chart")]
    assert any(f["data"][0]["type"] == "heatmap" and f["data"][0]["zmin"] == -1 for f in similarity)


def test_entry_script_is_not_next_to_a_pages_folder():
    # A `pages/` folder beside app.py makes Streamlit run a directly linked page on its own, without
    # app.py's sidebar, until st.navigation has run once in the process.
    assert not (ROOT / "pages").exists(), "move page scripts to app_pages/ (see app.py)"


def test_position_embedding_similarity_is_one_on_the_diagonal(tiny_vit_dir):
    from vitdemo.explain.position_embeddings import position_similarity
    from vitdemo.models import load_model

    similarity = position_similarity(load_model(str(tiny_vit_dir)))
    assert similarity.shape == (4, 4, 4, 4)
    diagonal = np.array([similarity[r, c, r, c] for r in range(4) for c in range(4)])
    assert np.allclose(diagonal, 1.0, atol=1e-5)


def test_with_nothing_chosen_each_page_says_what_to_do(app):
    app.session_state[MODELS_KEY] = []
    app.session_state[GALLERY_KEY] = []
    app.run()
    no_traceback(app)
    assert any("Upload an image or pick a gallery sample" in i.value for i in app.info)
    app.session_state[GALLERY_KEY] = ["Shapes: star (plain)"]
    app.run()
    assert any("Pick at least one model" in i.value for i in app.info)


def test_attention_page_asks_for_a_vit_when_only_a_resnet_is_chosen(app, models):
    app.session_state[MODELS_KEY] = [models[1]]
    app.run()
    app.switch_page("app_pages/2_Attention.py").run()
    no_traceback(app)
    assert any("needs a Vision Transformer" in i.value for i in app.info)


def test_the_app_start_creates_the_run_manager_so_queued_runs_resume_without_the_fine_tune_page(
    app, monkeypatch, tmp_path
):
    import vitdemo.ui.runs as runs

    roots = []

    class RecordingManager(runs.RunManager):
        def __init__(self, root):
            roots.append(root)
            super().__init__(root)

    monkeypatch.setenv("VITDEMO_RUNS_DIR", str(tmp_path / "runs"))
    monkeypatch.setattr(runs, "RunManager", RecordingManager)
    app.run()  # the Explore page: nobody has opened Fine-tune
    no_traceback(app)
    assert roots == [str(tmp_path / "runs")]  # created once, on the runs folder in use...
    app.run()
    app.switch_page("app_pages/5_Fine-tune.py").run()
    no_traceback(app)
    assert len(roots) == 1  # ...and shared with the Fine-tune page, not created again
    assert errors(app) == []


@pytest.mark.parametrize(("setting", "threads"), [(None, 3), ("1", 1), ("2", 2), ("many", 3)])
def test_the_server_runs_torch_with_the_threads_it_is_told(app, monkeypatch, setting, threads):
    if setting is None:
        monkeypatch.delenv("VITDEMO_TORCH_THREADS", raising=False)
    else:
        monkeypatch.setenv("VITDEMO_TORCH_THREADS", setting)
    torch.set_num_threads(3)
    app.run()
    no_traceback(app)
    # OpenMP keeps a count per thread: read it where the next session's script would run.
    seen = []
    reader = threading.Thread(target=lambda: seen.append(torch.get_num_threads()))
    reader.start()
    reader.join()
    assert seen == [threads]
