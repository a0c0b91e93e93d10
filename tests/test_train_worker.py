"""Runs train in worker processes: they outlive the app that started them, queues outlive restarts."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from test_train_engine import make_image_folder

from vitdemo.models import load_model
from vitdemo.train import ConfigError, FineTuneConfig, RunDir, RunManager, list_runs
from vitdemo.train.run_dir import StopSignal

REPO = Path(__file__).resolve().parents[1]

# A stand-in for the app: submits a long run and a short one, prints their ids, and idles
# until it is killed like a crashed or restarted server.
APP_STAND_IN = """
import sys, time
from vitdemo.train import FineTuneConfig, RunManager
root, data, model = sys.argv[1:4]
manager = RunManager(root)
common = dict(model=model, data=data, batch_size=4, val_fraction=0.25)
first = manager.submit(FineTuneConfig(mode="full", epochs=6, **common))
second = manager.submit(FineTuneConfig(mode="head", epochs=2, **common))
print(first, second, flush=True)
time.sleep(600)
"""


@pytest.fixture(scope="module")
def colours(tmp_path_factory) -> Path:
    return make_image_folder(tmp_path_factory.mktemp("colours"), {"red": 8, "green": 8})


@pytest.fixture(autouse=True)
def _one_thread_workers(monkeypatch):
    monkeypatch.setenv("OMP_NUM_THREADS", "1")  # workers inherit it: two cores are shared here


def _wait_for(condition, timeout: float, what: str) -> None:
    deadline = time.time() + timeout
    while not condition():
        assert time.time() < deadline, f"timed out waiting for {what}"
        time.sleep(0.1)


def _steps(run: RunDir) -> int:
    return sum(m.get("kind") == "step" for m in run.read_metrics())


@pytest.mark.slow
def test_a_run_finishes_after_its_app_is_killed_and_the_queue_survives_the_restart(
    tmp_path, colours, tiny_vit_dir
):
    root = tmp_path / "runs"
    app = subprocess.Popen(
        [sys.executable, "-c", APP_STAND_IN, str(root), str(colours), str(tiny_vit_dir)],
        stdout=subprocess.PIPE, text=True, env=dict(os.environ, PYTHONPATH=str(REPO)),
    )  # fmt: skip
    try:
        first_id, second_id = app.stdout.readline().split()
        first, second = RunDir(root / first_id), RunDir(root / second_id)
        _wait_for(lambda: _steps(first) >= 1, 180, "the first run's first step")
    finally:
        app.send_signal(signal.SIGKILL)  # the server dies without any clean-up
        app.wait()

    assert first.status()["state"] == "running"  # its worker did not die with the app
    assert second.status()["state"] == "queued"  # not "interrupted": it never started
    _wait_for(lambda: first.status()["state"] != "running", 240, "the first run to end")
    assert first.status()["state"] == "finished"
    assert load_model(str(first.path), device="cpu").card["training"]["epoch"] >= 1
    assert second.status()["state"] == "queued"  # nobody started it while no app was up

    manager = RunManager(root)  # the app starts again
    try:
        assert manager.wait(second_id, timeout=240)
    finally:
        manager.close()
    assert second.status()["state"] == "finished"
    assert second.status()["started_at"] >= first.status()["finished_at"]


@pytest.mark.slow
def test_a_killed_worker_is_reported_as_interrupted_with_the_reason(tmp_path, colours, tiny_vit_dir):
    manager = RunManager(tmp_path / "runs", poll_seconds=0.2)
    try:
        run_id = manager.submit(FineTuneConfig(model=str(tiny_vit_dir), data=str(colours), mode="full",
                                               epochs=500, batch_size=4, val_fraction=0.25))  # fmt: skip
        run = manager.run_dir(run_id)
        _wait_for(lambda: _steps(run) >= 2, 180, "two steps")
        assert manager.running() == {"cpu": run_id}
        os.kill(run.read_raw_status()["pid"], signal.SIGKILL)
        assert manager.wait(run_id, timeout=30)
        _wait_for(lambda: "signal 9" in run.status().get("message", ""), 10, "the reaper's message")
    finally:
        manager.close()
    status = run.status()
    assert status["state"] == "interrupted"
    assert "not resumed" in status["message"] and "\n" not in status["message"]
    assert manager.running() == {}


def test_a_model_object_without_a_reloadable_spec_is_refused_in_one_sentence(tmp_path, tiny_vit_dir):
    from dataclasses import replace

    built_in_code = replace(load_model(str(tiny_vit_dir), device="cpu"), spec="my notebook model")
    manager = RunManager(tmp_path / "runs")
    try:
        with pytest.raises(ConfigError, match="save it as a model folder") as error:
            manager.submit(FineTuneConfig(data="shapes"), model=built_in_code)
    finally:
        manager.close()
    assert "\n" not in str(error.value)
    assert list_runs(tmp_path / "runs") == []


def test_the_worker_loads_the_handed_model_from_its_spec(tmp_path, tiny_vit_dir, monkeypatch):
    monkeypatch.chdir(tiny_vit_dir.parent)
    model = load_model(tiny_vit_dir.name, device="cpu")  # a relative folder spec
    manager = RunManager(tmp_path / "runs")
    try:
        run_id = manager.submit(
            FineTuneConfig(data="shapes", shapes_classes=["circle", "square"]), model=model
        )
        assert manager.stop(run_id)  # still queued or just started: cancelled or stopped
    finally:
        manager.close()
    assert manager.run_dir(run_id).read_config()["model"] == str(tiny_vit_dir.resolve())


def test_a_stop_file_or_a_local_request_stops_a_run(tmp_path):
    run = RunDir.create(tmp_path, "stop")
    stop = StopSignal(run)
    assert not stop.is_set()
    run.request_stop()
    assert stop.is_set()
    local = StopSignal(None)
    local.set()
    assert local.is_set()


def test_newest_run_is_chosen_by_start_time_not_folder_name(tmp_path):
    older = RunDir(tmp_path / "cli-x")  # a CLI --out name sorts above every timestamped folder
    older.path.mkdir()
    older.write_config({})
    older.update_status(state="finished", started_at=time.time() - 3600)
    newer = RunDir.create(tmp_path, "app")
    newer.write_config({})
    newer.update_status(state="finished", started_at=time.time())
    assert [r.run_id for r in list_runs(tmp_path)] == [newer.run_id, "cli-x"]


def test_metrics_are_read_incrementally_and_a_half_written_line_waits(tmp_path):
    run = RunDir.create(tmp_path, "metrics")
    for step in range(1, 4):
        run.append_metrics({"kind": "step", "step": step})
    assert [m["step"] for m in run.read_metrics()] == [1, 2, 3]
    with open(run.metrics_path, "a") as f:
        f.write('{"kind": "step", "st')  # the writer is mid-line
    assert len(run.read_metrics()) == 3
    with open(run.metrics_path, "a") as f:
        f.write('ep": 4}\n')
    assert [m["step"] for m in run.read_metrics()] == [1, 2, 3, 4]
    run.read_metrics().append({"kind": "mine"})  # a caller's list is its own
    assert len(run.read_metrics()) == 4


def test_default_epochs_follow_the_mode():
    assert FineTuneConfig(mode="head").epochs > FineTuneConfig(mode="full").epochs
    assert FineTuneConfig(mode="last-2").epochs == FineTuneConfig(mode="full").epochs
    assert FineTuneConfig(mode="full", epochs=7).epochs == 7
