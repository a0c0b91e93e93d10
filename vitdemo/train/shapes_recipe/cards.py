"""The recipe's outputs: the exported model directory and the measured figures in its card."""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path

import torch

import vitdemo.train.shapes_recipe as recipe_package
from vitdemo.data.shapes import SHAPE_CLASSES, SPLIT_SEEDS
from vitdemo.models.model_dir import CARD_NAME
from vitdemo.train.checkpoints import save_checkpoint
from vitdemo.train.shapes_recipe.archs import ARCHS
from vitdemo.train.shapes_recipe.config import BUNDLED_DIR, TrainConfig
from vitdemo.train.shapes_recipe.history import training_history
from vitdemo.train.shapes_recipe.rendered_set import EASY, FULL
from vitdemo.train.shapes_recipe.token_labels import TokenLabelled


def export(model: TokenLabelled, cfg: TrainConfig, work_dir: Path, out_root: Path = BUNDLED_DIR) -> Path:
    """Write the plain timm network (no auxiliary head) as a bundled model directory."""
    spec = ARCHS[cfg.arch]
    card = {
        "name": spec["name"],
        "timm_name": spec["timm_name"],
        "model_kwargs": spec["model_kwargs"],
        "labels": SHAPE_CLASSES,
        "preprocessing": spec["preprocessing"],
        "family": spec["family"],
        "status": "in-training",  # set by `evaluate` from the measured figures
        "description": f"{spec['name']}: {spec['about']}, trained from scratch on the procedural Shapes dataset.",
        "training": {
            "script": "python -m vitdemo.train.shapes train --arch " + cfg.arch,
            "config": asdict(cfg),
            "data": {
                "train_seed": SPLIT_SEEDS["train"],
                "easy_images": EASY,
                "full_images": FULL,
                "augmentation": "8 square symmetries (flips, 90° turns)",
            },
            "recipe": (recipe_package.__doc__ or "Recipe").split("Recipe", 1)[1].strip(),
            **training_history(work_dir, cfg.arch),
            "resume": f"training/shapes/{cfg.arch}.ckpt.pt",
        },
    }
    return save_checkpoint(out_root / spec["name"], model.net, card)


def evaluate_bundled(arch: str, n_test: int) -> dict:
    """Evaluate a bundled model with the explain engine and store the figures in its card."""
    from vitdemo.models import load_model
    from vitdemo.train.demo_eval import QUALITY_BARS, evaluate_demo_model

    torch.set_num_threads(2)
    model_dir = BUNDLED_DIR / ARCHS[arch]["name"]
    report = evaluate_demo_model(load_model(str(model_dir)), n_test=n_test)
    card_path = model_dir / CARD_NAME
    card = json.loads(card_path.read_text())
    card["metrics"] = report.as_card_metrics()
    # "trained" only when the bars are met; otherwise the run goes on in a later session.
    unmet = report.unmet(QUALITY_BARS[ARCHS[arch]["name"]])
    card["status"] = "in-training" if unmet else "trained"
    card_path.write_text(json.dumps(card, indent=2) + "\n")
    return {
        **card["metrics"],
        "unmet": unmet,
        "errors": report.errors[:10],
        "seconds": round(report.seconds, 1),
    }
