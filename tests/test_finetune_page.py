"""The Fine-tune page, driven by Streamlit's AppTest: a short run from the browser's point of view."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

PAGE = str(Path(__file__).resolve().parents[1] / "app_pages" / "5_Fine-tune.py")
OTHER_MODEL = "other (type a model spec)…"


def _texts(at: AppTest) -> str:
    parts = [
        e.value
        for kind in ("subheader", "caption", "markdown", "info", "error", "warning")
        for e in at.get(kind)
    ]
    return "\n".join(str(p) for p in parts)


@pytest.fixture
def page(tmp_path, monkeypatch) -> AppTest:
    monkeypatch.setenv("VITDEMO_RUNS_DIR", str(tmp_path / "runs"))
    at = AppTest.from_file(PAGE, default_timeout=120)
    at.run()
    assert not at.exception
    return at


def test_page_opens_with_shapes_preview_and_no_runs(page):
    assert "built-in Shapes dataset: 240 images in 6 classes" in _texts(page)
    assert "No runs yet." in _texts(page)
    assert len(page.get("plotly_chart")) == 1  # class counts


def test_one_shapes_class_is_explained_not_crashed(page):
    page.multiselect(key="ft_shapes").set_value(["circle"]).run()
    assert not page.exception
    assert "at least 2 classes" in _texts(page)


def test_switching_the_mode_to_full_brings_the_full_mode_default_epochs(page):
    from vitdemo.train.config import DEFAULT_EPOCHS

    assert page.number_input(key="ft_epochs").value == DEFAULT_EPOCHS["head"]
    page.radio(key="ft_mode").set_value("full").run()
    assert not page.exception
    assert page.number_input(key="ft_epochs").value == DEFAULT_EPOCHS["full"] != DEFAULT_EPOCHS["head"]
    page.radio(key="ft_mode").set_value("head").run()
    assert page.number_input(key="ft_epochs").value == DEFAULT_EPOCHS["head"]


def test_a_short_run_from_the_page_shows_live_charts_and_final_metrics(page, tiny_vit_dir):
    page.multiselect(key="ft_shapes").set_value(["circle", "square", "triangle"])
    page.slider(key="ft_per_class").set_value(10)
    page.selectbox(key="ft_model").set_value(OTHER_MODEL).run()
    page.text_input(key="ft_spec").set_value(str(tiny_vit_dir))
    page.number_input(key="ft_epochs").set_value(3).run()
    page.button(key="ft_start").click().run()
    assert not page.exception

    deadline = time.time() + 240
    while "Results on the validation images" not in _texts(page):
        assert time.time() < deadline, _texts(page)
        time.sleep(0.5)
        page.run()
        assert not page.exception
        assert not page.get("error"), _texts(page)

    assert len(page.get("plotly_chart")) >= 4  # class counts, step loss, epoch metrics, confusion matrix
    assert "Queue —" not in _texts(page)  # the finished run is not shown as running any more
    table = page.dataframe[0].value
    assert list(table["model"].str.split(" ").str[0]) == ["before", "after"]
    assert 0.0 <= table["accuracy"].iloc[1] <= 1.0
    # the finished run is offered as a starting model (labelled with its id, state and accuracy)
    runs = [o for o in page.selectbox(key="ft_model").options if "finished, val acc" in o]
    assert len(runs) == 1


def test_stop_button_stops_the_run_and_says_the_checkpoint_is_kept(page, tiny_vit_dir):
    page.multiselect(key="ft_shapes").set_value(["circle", "square"])
    page.slider(key="ft_per_class").set_value(6)
    page.radio(key="ft_mode").set_value("full")
    page.selectbox(key="ft_model").set_value(OTHER_MODEL).run()
    page.text_input(key="ft_spec").set_value(str(tiny_vit_dir))
    page.number_input(key="ft_epochs").set_value(500).run()
    page.button(key="ft_start").click().run()

    def progress_text() -> str:
        bars = page.get("progress")
        return bars[0].proto.text if bars else ""

    deadline = time.time() + 120
    while "step" not in progress_text():  # training has begun: "running: epoch 1/500 · step 3/…"
        assert time.time() < deadline, _texts(page)
        time.sleep(0.3)
        page.run()
    assert progress_text().startswith("running: epoch ") and "/500" in progress_text()
    assert "Queue — running on cpu: " in _texts(page) and "(yours)" in _texts(page)
    next(b for b in page.button if b.key and b.key.startswith("ft_stop_")).click().run()

    while "the last checkpoint holds the weights at the stop" not in _texts(page):
        assert time.time() < deadline, _texts(page)
        time.sleep(0.3)
        page.run()
    assert not page.exception
