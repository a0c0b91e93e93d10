"""The recipe's history: one line per invocation (steps, minutes, device, flags), for the model card."""

from __future__ import annotations

import json
import os
import platform
import time
from dataclasses import asdict
from pathlib import Path

import torch

from vitdemo.train.shapes_recipe.config import TrainConfig


def record_history(
    work_dir: Path, cfg: TrainConfig, first_step: int, step: int, started: float, device: str
) -> None:
    """Keep one line per invocation in `<arch>.history.jsonl`: steps, minutes and flags.

    Rewritten at every checkpoint, so an interrupted run is recorded up to its last checkpoint;
    the model card's `training.history` is this file (the exact path from scratch to the weights).
    """
    path = work_dir / f"{cfg.arch}.history.jsonl"
    entries = [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []
    entries = [e for e in entries if e["started"] != started]
    entries.append(
        {
            "started": started,
            "steps": [first_step, step],
            "minutes": round((time.time() - started) / 60, 1),
            "device": device,
            "hardware": hardware_name(device),
            "config": asdict(cfg),
        }
    )
    path.write_text("".join(json.dumps(e) + "\n" for e in entries))


def hardware_name(device: str) -> str:
    """What a stage ran on, for the card: the GPU's name, or the CPU's core count and model."""
    if device == "cuda":
        return torch.cuda.get_device_name()
    return f"{os.cpu_count()}-core CPU ({platform.processor() or platform.machine()})"


def training_history(work_dir: Path, arch: str) -> dict:
    """The card's summary of every invocation that led to the current checkpoint."""
    path = work_dir / f"{arch}.history.jsonl"
    entries = [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []
    return {
        "history": [
            {k: e[k] for k in ("steps", "minutes", "device", "hardware", "config") if k in e} for e in entries
        ],
        "images_seen": sum((e["steps"][1] - e["steps"][0]) * e["config"]["batch_size"] for e in entries),
        "minutes": round(sum(e["minutes"] for e in entries), 1),
    }
