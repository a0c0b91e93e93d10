"""The fine-tuning engine and run manager: learning, modes, stop, queue, interruption, soup, reload."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from vitdemo.models import load_model
from vitdemo.models.catalog import bundled_root
from vitdemo.models.model_dir import is_model_dir
from vitdemo.train import FineTuneConfig, RunDir, RunManager, list_runs, run_finetune, snapshot
from vitdemo.train.augment import model_input
from vitdemo.train.data import prepare_training_data


def make_image_folder(root: Path, per_class: dict[str, int], size: int = 40) -> Path:
    """Noisy solid-colour PNGs, one colour per class: learnable by a tiny untrained model."""
    colours = [(220, 30, 30), (30, 200, 40), (40, 60, 230), (230, 200, 20)]
    for c, (name, n) in enumerate(per_class.items()):
        (root / name).mkdir(parents=True, exist_ok=True)
        for i in range(n):
            rng = np.random.default_rng([c, i])
            pixels = np.clip(np.array(colours[c]) + rng.normal(0, 25, (size, size, 3)), 0, 255).astype(
                np.uint8
            )
            Image.fromarray(pixels).save(root / name / f"{i:03d}.png")
    return root


@pytest.fixture(scope="module")
def colours(tmp_path_factory) -> Path:
    return make_image_folder(tmp_path_factory.mktemp("colours"), {"red": 12, "green": 12, "blue": 12})


def _config(data: Path | str, **overrides) -> FineTuneConfig:
    settings = {"data": str(data), "epochs": 4, "batch_size": 8, "val_fraction": 0.25, "seed": 0}
    return FineTuneConfig(**(settings | overrides))


def _val_accuracy_of_reloaded(path: Path, config: FineTuneConfig, cache: Path) -> float:
    """Reload a checkpoint through load_model and measure it on the run's own validation split."""
    model = load_model(str(path), device="cpu")
    data = prepare_training_data(config, model.preprocessing, cache)
    assert model.labels == data.classes
    with torch.inference_mode():
        logits = model.logits(model_input(data.val_images, model.preprocessing))
    return (logits.argmax(1) == data.val_labels).float().mean().item()


def test_head_mode_learns_and_the_run_directory_loads_back_and_predicts(tmp_path, colours, tiny_vit_dir):
    config = _config(colours, model=str(tiny_vit_dir), mode="head", epochs=15, lr=1e-2)
    run = RunDir.create(tmp_path, "head")
    results = run_finetune(config, run)

    steps = [m["loss"] for m in run.read_metrics() if m["kind"] == "step"]
    assert len(steps) == 15 * 4  # 27 training images, batch 8
    assert np.mean(steps[-4:]) < 0.7 * np.mean(steps[:4])
    assert results["state"] == "finished" and results["after"]["accuracy"] >= 0.9
    assert results["before_kind"].startswith("a fresh")  # colours are not the tiny model's classes
    # runs/<id> itself is the best checkpoint; last/ is the final one; both reload and predict.
    assert is_model_dir(run.path) and is_model_dir(run.last_dir)
    assert _val_accuracy_of_reloaded(run.path, config, tmp_path) == pytest.approx(
        results["after"]["accuracy"]
    )
    assert snapshot(run).state == "finished"


def test_head_mode_on_shapes_with_a_bundled_demo_model_reaches_90_percent(tmp_path):
    demos = [name for name in ("demo-resnet", "demo-vit") if is_model_dir(bundled_root() / name)]
    if not demos:
        pytest.skip("the bundled demo models (trained on Shapes) are not in vitdemo/models/bundled yet")
    config = FineTuneConfig(
        model=demos[0], data="shapes", shapes_classes=["circle", "square", "triangle", "star"],
        shapes_per_class=30, mode="head", epochs=60, batch_size=16, val_fraction=0.25,
    )  # fmt: skip
    run = RunDir.create(tmp_path, "shapes")
    results = run_finetune(config, run)
    epochs = [m for m in run.read_metrics() if m["kind"] == "epoch"]
    assert epochs[-1]["train_loss"] < epochs[0]["train_loss"]
    assert results["after"]["accuracy"] >= 0.9
    assert results["before_kind"].startswith("the model's own head")  # Shapes are its classes


def test_last_n_mode_changes_only_the_last_blocks_and_never_the_shared_model(tmp_path, colours, tiny_vit_dir):
    shared = load_model(str(tiny_vit_dir), device="cpu")
    original = {k: v.clone() for k, v in shared.network.state_dict().items()}
    run = RunDir.create(tmp_path, "last1")
    run_finetune(_config(colours, mode="last-1", epochs=2, lr=1e-3), run, model=shared)

    # The app's shared model is untouched: same weights, same 3-class head.
    assert all(torch.equal(original[k], v) for k, v in shared.network.state_dict().items())
    tuned = load_model(str(run.last_dir), device="cpu").network.state_dict()
    changed = {k for k in original if k in tuned and not torch.equal(original[k], tuned[k])}
    assert any(k.startswith("blocks.1.") for k in changed)
    assert not any(k.startswith(("blocks.0.", "patch_embed.", "pos_embed", "cls_token")) for k in changed)


@pytest.mark.slow
def test_full_mode_resnet_with_sgd_step_schedule_and_augmentation(tmp_path, colours, tiny_resnet_dir):
    config = _config(colours, model=str(tiny_resnet_dir), mode="full", epochs=3, optimizer="sgd",
                     schedule="step", step_epochs=1, augment=True, lr=0.05)  # fmt: skip
    run = RunDir.create(tmp_path, "full")
    results = run_finetune(config, run)
    lrs = [m["lr"] for m in run.read_metrics() if m["kind"] == "epoch"]
    assert lrs == pytest.approx([0.05, 0.005, 0.0005])
    assert results["state"] == "finished"
    assert set(results["after"]) >= {
        "accuracy",
        "macro_f1",
        "roc_auc",
        "per_class_accuracy",
        "confusion_matrix",
    }
    assert np.asarray(results["after"]["confusion_matrix"]).sum() == 9  # every validation image, once


def test_soup_of_best_epochs_is_reported_against_the_best_single_checkpoint(tmp_path, colours, tiny_vit_dir):
    config = _config(colours, model=str(tiny_vit_dir), mode="head", epochs=5, lr=1e-2, soup_k=3, augment=True)
    run = RunDir.create(tmp_path, "soup")
    results = run_finetune(config, run)
    soup = results["soup"]
    assert len(soup["epochs"]) == 3 and results["best_epoch"] in soup["epochs"]
    assert soup["best_single_accuracy"] == results["after"]["accuracy"]
    assert _val_accuracy_of_reloaded(run.soup_dir, config, tmp_path) == pytest.approx(
        soup["report"]["accuracy"]
    )


def _wait_for(condition, timeout: float, what: str) -> None:
    deadline = time.time() + timeout
    while not condition():
        if time.time() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


def test_stop_acts_within_a_step_and_keeps_a_loadable_checkpoint(tmp_path, colours, tiny_vit_dir):
    manager = RunManager(tmp_path / "runs")
    try:
        run_id = manager.submit(
            _config(colours, model=str(tiny_vit_dir), mode="full", epochs=500, batch_size=4)
        )
        run = manager.run_dir(run_id)
        _wait_for(lambda: sum(m["kind"] == "step" for m in run.read_metrics()) >= 3, 120, "three steps")
        assert manager.stop(run_id)
        assert manager.wait(run_id, timeout=20)
    finally:
        manager.close()
    status = run.status()
    assert status["state"] == "stopped"
    assert is_model_dir(run.last_dir) and is_model_dir(run.path)
    model = load_model(str(run.path), device="cpu")
    assert model.logits(torch.zeros(1, 3, 64, 64)).shape == (1, 3)


def test_runs_queue_one_at_a_time_and_a_queued_run_can_be_cancelled(tmp_path, colours, tiny_vit_dir):
    manager = RunManager(tmp_path / "runs")
    try:
        config = _config(colours, model=str(tiny_vit_dir), mode="head", epochs=2)
        first, second, third = (manager.submit(config) for _ in range(3))
        assert manager.queued() == [second, third] or manager.queued() == [first, second, third]
        assert manager.stop(third)
        assert all(manager.wait(r, timeout=120) for r in (first, second))
    finally:
        manager.close()
    a, b, c = (manager.run_dir(r).status() for r in (first, second, third))
    assert (a["state"], b["state"], c["state"]) == ("finished", "finished", "cancelled")
    assert b["started_at"] >= a["finished_at"]  # never two runs at once on one device


def test_a_dataset_problem_fails_the_run_with_one_line_for_the_page(tmp_path, tiny_vit_dir):
    make_image_folder(tmp_path / "one-class", {"red": 5})
    manager = RunManager(tmp_path / "runs")
    try:
        run_id = manager.submit(_config(tmp_path / "one-class", model=str(tiny_vit_dir)))
        assert manager.wait(run_id, timeout=60)
    finally:
        manager.close()
    view = snapshot(manager.run_dir(run_id))
    assert view.state == "failed"
    assert "at least 2 classes" in view.message and "\n" not in view.message


def test_a_run_left_active_by_a_dead_process_is_shown_as_interrupted(tmp_path):
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    run = RunDir.create(tmp_path, "crashed")
    run.update_status(state="running", pid=dead.pid, host=os.uname().nodename, owner="gone")
    run.write_config({"epochs": 3})
    assert [r.run_id for r in list_runs(tmp_path)] == [run.run_id]
    view = snapshot(run)
    assert view.state == "interrupted" and "unexpectedly" in view.message
    # and it stays interrupted even if the pid is reused later
    assert run.read_raw_status()["state"] == "interrupted"


def test_a_run_of_a_manager_that_is_gone_from_this_process_is_interrupted(tmp_path):
    run = RunDir.create(tmp_path, "orphan")
    run.update_status(state="running")
    run.claim("a-token-no-live-manager-holds")
    assert run.status()["state"] == "interrupted"
