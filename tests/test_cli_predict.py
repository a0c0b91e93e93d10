"""`vitdemo predict`: readable table, JSON contract, exit statuses, and never a traceback for users."""

from __future__ import annotations

import io
import json
import subprocess
import sys
import types
from pathlib import Path

import pytest
from PIL import Image

import vitdemo.models
from vitdemo import cli
from vitdemo.cli import main

TINY_LABELS = {"circle", "square", "triangle"}


@pytest.fixture
def images(tmp_path) -> dict[str, Path]:
    paths = {
        "red": tmp_path / "red.png",
        "photo": tmp_path / "photo.jpg",
        "empty": tmp_path / "empty.jpg",
        "text": tmp_path / "notes.jpg",
    }
    Image.new("RGB", (120, 90), (200, 30, 30)).save(paths["red"])
    Image.effect_noise((200, 150), 40).convert("RGB").save(paths["photo"], quality=90)
    paths["empty"].write_bytes(b"")
    paths["text"].write_text("not a photo")
    return paths


def run_cli(capsys, *argv) -> tuple[int, str, str]:
    status = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return status, out, err


def test_table_for_good_images(capsys, images, tiny_vit_dir):
    status, out, err = run_cli(capsys, "predict", images["red"], images["photo"], "--model", tiny_vit_dir)
    assert (status, err) == (0, "")
    assert out.startswith(f"model: {tiny_vit_dir} (")
    for name in ("red", "photo"):
        block = out.split(str(images[name]) + "\n", 1)[1].split("\n\n", 1)[0].splitlines()
        assert [line.split()[0] for line in block] == ["1", "2", "3"]
        assert {line.split()[1] for line in block} == TINY_LABELS
        assert all(line.rstrip().endswith("%") for line in block)


def test_json_contract_with_a_bad_file_in_the_middle(capsys, images, tiny_vit_dir):
    argv = [
        "predict",
        images["red"],
        images["text"],
        images["photo"],
        "--model",
        tiny_vit_dir,
        "--json",
        "-k",
        2,
    ]
    status, out, _ = run_cli(capsys, *argv)
    assert status == 1
    rows = json.loads(out)
    assert [row["image"] for row in rows] == [str(images["red"]), str(images["text"]), str(images["photo"])]
    good, bad = rows[0], rows[1]
    assert set(good) == {"image", "model", "top_k"} and good["model"] == str(tiny_vit_dir)
    assert [set(entry) for entry in good["top_k"]] == [{"label", "index", "prob"}] * 2
    probs = [entry["prob"] for entry in good["top_k"]]
    assert probs == sorted(probs, reverse=True) and 0 < sum(probs) <= 1
    assert all(isinstance(entry["index"], int) and entry["label"] in TINY_LABELS for entry in good["top_k"])
    assert set(bad) == {"image", "error"} and "text file" in bad["error"]


def test_bad_files_get_one_line_each_and_exit_1(capsys, images, tiny_vit_dir):
    argv = ["predict", images["empty"], images["red"], images["text"], "--model", tiny_vit_dir]
    status, out, err = run_cli(capsys, *argv)
    assert status == 1
    lines = err.splitlines()
    assert len(lines) == 2
    assert str(images["empty"]) in lines[0] and "empty (0 bytes)" in lines[0]
    assert str(images["text"]) in lines[1]
    assert str(images["red"]) in out and "Traceback" not in err


def test_only_bad_files_do_not_even_need_the_model(capsys, images, hub_cache):
    status, out, err = run_cli(capsys, "predict", images["empty"], "--model", "vit")  # vit is not cached
    assert status == 1 and out == ""
    assert "empty" in err and "fetch" not in err


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["predict"], "the following arguments are required: IMAGE"),
        (["predict", "x.png", "--top-k", "0"], "must be at least 1"),
        (["predict", "x.png", "--frobnicate"], "unrecognized arguments: --frobnicate"),
        (["predict", "x.png", "--model", "gpt"], "Unknown model 'gpt'"),
        (["predict", "RED", "--model", "timm:convnext_tiny"], "ResNets only"),
        ([], "required: COMMAND"),
    ],
)
def test_usage_errors_exit_2_with_a_message(capsys, images, argv, message):
    argv = [str(images["red"]) if a == "RED" else a for a in argv]
    status, _, err = run_cli(capsys, *argv)
    assert status == 2
    assert message in err and "Traceback" not in err


def test_model_not_available_offline_is_one_line(capsys, images, hub_cache):
    status, out, err = run_cli(capsys, "predict", images["red"], "--model", "vit")
    assert (status, out) == (1, "")
    assert len(err.splitlines()) == 1
    assert "python -m vitdemo fetch vit" in err and "demo-vit" in err


def test_internal_errors_are_one_line_unless_debugging(capsys, images, tiny_vit_dir, monkeypatch):
    def broken_predict(*args, **kwargs):
        raise RuntimeError("tensor shapes disagree")

    monkeypatch.setattr(vitdemo.models, "predict", broken_predict)
    status, _, err = run_cli(capsys, "predict", images["red"], "--model", tiny_vit_dir)
    assert status == 3
    assert err.startswith("internal error: RuntimeError: tensor shapes disagree")
    assert len(err.splitlines()) == 1 and "Traceback" not in err
    status, _, err = run_cli(capsys, "predict", images["red"], "--model", tiny_vit_dir, "--debug")
    assert status == 3 and "Traceback (most recent call last)" in err


def test_image_from_stdin(capsys, images, tiny_vit_dir, monkeypatch):
    monkeypatch.setattr(sys, "stdin", types.SimpleNamespace(buffer=io.BytesIO(images["red"].read_bytes())))
    status, out, _ = run_cli(capsys, "predict", "-", "--model", tiny_vit_dir, "--json")
    assert status == 0
    assert json.loads(out)[0]["image"] == "<stdin>"


def test_missing_and_broken_command_modules_do_not_break_the_others(
    capsys, monkeypatch, images, tiny_vit_dir
):
    broken = types.ModuleType("vitdemo.cli.broken")

    def register(subparsers):
        raise ImportError("cannot import name 'thing' from 'somewhere'")

    broken.register = register
    monkeypatch.setitem(sys.modules, "vitdemo.cli.broken", broken)
    monkeypatch.setattr(cli, "SUBCOMMANDS", ("predict", "not_written_yet", "broken"))
    status, _, _ = run_cli(capsys, "predict", images["red"], "--model", tiny_vit_dir)
    assert status == 0
    status, _, err = run_cli(capsys, "broken")
    assert status == 3 and "the broken command cannot be loaded" in err


@pytest.mark.slow
def test_python_dash_m_entry_point(images, tiny_vit_dir):
    command = [sys.executable, "-m", "vitdemo", "predict", str(images["text"]), str(images["red"])]
    done = subprocess.run(
        [*command, "--model", str(tiny_vit_dir)], capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 1
    assert done.stderr.strip().count("\n") == 0 and "notes.jpg" in done.stderr
    assert "circle" in done.stdout
