"""`python -m vitdemo finetune`: a run from the shell, one-line errors, crash → interrupted, torchrun DDP."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from vitdemo.models import load_model
from vitdemo.models.model_dir import is_model_dir
from vitdemo.train import RunDir

REPO = Path(__file__).resolve().parents[1]
CLI = [sys.executable, "-m", "vitdemo", "finetune"]


def _env() -> dict[str, str]:
    env = dict(os.environ, PYTHONPATH=str(REPO), OMP_NUM_THREADS="1")
    env.pop("WORLD_SIZE", None)
    return env


@pytest.fixture(scope="module")
def colours(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("colours")
    for c, (name, rgb) in enumerate(
        {"red": (220, 30, 30), "green": (30, 200, 40), "blue": (40, 60, 230)}.items()
    ):
        (root / name).mkdir()
        for i in range(10):
            noise = np.random.default_rng([c, i]).normal(0, 25, (32, 32, 3))
            Image.fromarray(np.clip(np.array(rgb) + noise, 0, 255).astype(np.uint8)).save(
                root / name / f"{i}.png"
            )
    return root


def _args(colours: Path, model: Path, out: Path, *extra: str) -> list[str]:
    return ["--data", str(colours), "--model", str(model), "--out", str(out), "--batch-size", "4", "--no-progress",
            *extra]  # fmt: skip


@pytest.mark.slow
def test_cli_run_writes_a_loadable_run_directory_and_a_summary(tmp_path, colours, tiny_vit_dir):
    out = tmp_path / "run"
    done = subprocess.run(
        [*CLI, *_args(colours, tiny_vit_dir, out, "--mode", "head", "--epochs", "6", "--lr", "0.01", "--soup", "2")],
        capture_output=True, text=True, env=_env(), timeout=300,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "Validation accuracy" in done.stdout and "Soup of epochs" in done.stdout
    assert is_model_dir(out) and is_model_dir(out / "last") and is_model_dir(out / "soup")
    results = json.loads((out / "results.json").read_text())
    assert results["state"] == "finished"
    assert load_model(str(out), device="cpu").labels == ["blue", "green", "red"]


@pytest.mark.parametrize(
    ("extra", "words"),
    [
        (["--mode", "sideways"], "Unknown mode 'sideways'"),
        (["--epochs", "0"], "epochs must be at least 1"),
    ],
)
def test_cli_bad_settings_are_one_line_errors(tmp_path, colours, tiny_vit_dir, extra, words):
    done = subprocess.run(
        [*CLI, *_args(colours, tiny_vit_dir, tmp_path / "run", *extra)],
        capture_output=True, text=True, env=_env(), timeout=120,
    )  # fmt: skip
    assert done.returncode == 2  # a usage error
    assert len(done.stderr.strip().splitlines()) == 1
    assert done.stderr.startswith("vitdemo finetune: error: ") and words in done.stderr


def test_cli_missing_data_folder_is_a_one_line_error(tmp_path, tiny_vit_dir):
    done = subprocess.run(
        [*CLI, "--data", str(tmp_path / "nowhere"), "--model", str(tiny_vit_dir), "--out", str(tmp_path / "r")],
        capture_output=True, text=True, env=_env(), timeout=120,
    )  # fmt: skip
    assert done.returncode == 2 and "does not exist" in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "r").exists()  # refused before anything was created


def test_cli_refuses_to_write_into_a_folder_that_is_not_empty(tmp_path, colours, tiny_vit_dir):
    (tmp_path / "run").mkdir()
    (tmp_path / "run" / "keep.txt").write_text("someone's notes")
    done = subprocess.run(
        [*CLI, *_args(colours, tiny_vit_dir, tmp_path / "run")],
        capture_output=True,
        text=True,
        env=_env(),
        timeout=120,
    )
    assert done.returncode == 2 and "not an empty folder" in done.stderr
    assert [p.name for p in (tmp_path / "run").iterdir()] == ["keep.txt"]


@pytest.mark.slow
def test_a_killed_run_is_interrupted_and_keeps_its_finished_epochs(tmp_path, colours, tiny_vit_dir):
    out = tmp_path / "run"
    process = subprocess.Popen(
        [*CLI, *_args(colours, tiny_vit_dir, out, "--mode", "full", "--epochs", "400")],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=_env(),
    )  # fmt: skip
    run = RunDir(out)
    try:
        deadline = time.time() + 240
        while not any(m["kind"] == "epoch" for m in run.read_metrics()):
            assert process.poll() is None, process.stderr.read().decode()
            assert time.time() < deadline, "no epoch finished in time"
            time.sleep(0.2)
    finally:
        process.send_signal(signal.SIGKILL)  # a crash: no chance to clean up
        process.wait()
    assert run.status()["state"] == "interrupted"
    assert is_model_dir(out) and is_model_dir(out / "last")
    assert load_model(str(out), device="cpu").card["training"]["epoch"] >= 1


@pytest.mark.slow
def test_torchrun_two_cpu_processes_finish_with_identical_weights(tmp_path, colours, tiny_vit_dir):
    out = tmp_path / "ddp"
    done = subprocess.run(
        [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2",
         "-m", "vitdemo", "finetune", *_args(colours, tiny_vit_dir, out, "--mode", "full", "--epochs", "2")],
        capture_output=True, text=True, env=_env(), timeout=600,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    results = json.loads((out / "results.json").read_text())
    assert results["world_size"] == 2
    assert results["ddp"]["identical"] and len(results["ddp"]["checksums"]) == 2
    # Each process trained on half of the 24 training images per epoch: 3 steps of 4, not 6.
    steps = [m for m in RunDir(out).read_metrics() if m["kind"] == "step"]
    assert len(steps) == 2 * 3
    assert "identical on all ranks" in done.stdout
