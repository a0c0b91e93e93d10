"""`vitdemo models` and `vitdemo fetch`: what a teacher sees while preparing a classroom machine."""

from __future__ import annotations

import json
import shutil

from vitdemo.cli import main
from vitdemo.models import catalog


def test_models_table_marks_what_works_offline(capsys, tmp_path, monkeypatch, tiny_vit_dir, hub_cache):
    shutil.copytree(tiny_vit_dir, tmp_path / "demo-vit")
    monkeypatch.setattr(catalog, "BUNDLED_ROOT", tmp_path)
    assert main(["models"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split() == ["SPEC", "STATUS", "OFFLINE", "DESCRIPTION"]
    rows = {
        line.split()[0]: line.split()[1:3]
        for line in lines[1:]
        if line.strip() and not line.startswith("Any")
    }
    assert rows["demo-vit"] == ["bundled", "yes"]
    assert rows["demo-resnet"] == ["missing", "no"]
    assert rows["vit"] == ["download", "no"] and rows["resnet"] == ["download", "no"]
    assert "python -m vitdemo fetch SPEC" in lines[-1]


def test_models_json(capsys, hub_cache):
    assert main(["models", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert {"spec", "description", "status", "offline"} <= set(rows[0])
    assert [r["spec"] for r in rows][:5] == ["demo-vit", "demo-hybrid", "demo-resnet", "vit", "resnet"]


def test_fetch_while_offline_says_why(capsys, hub_cache):
    assert main(["fetch", "vit"]) == 1
    err = capsys.readouterr().err
    assert len(err.splitlines()) == 1 and "HF_HUB_OFFLINE is set" in err


def test_fetch_checks_every_spec_before_downloading(capsys, hub_cache):
    assert main(["fetch", "vit", "gpt"]) == 2
    assert "Unknown model 'gpt'" in capsys.readouterr().err


def test_fetch_of_a_local_model_just_checks_it_loads(capsys, tiny_vit_dir, hub_cache):
    assert main(["fetch", str(tiny_vit_dir)]) == 0
    assert f"{tiny_vit_dir}: ready" in capsys.readouterr().out
