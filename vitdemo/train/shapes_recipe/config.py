"""The recipe's settings (`TrainConfig`) and the recorded stages that made the bundled weights."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from vitdemo.data.shapes import IMAGE_SIZE

BUNDLED_DIR = Path(__file__).resolve().parents[2] / "models" / "bundled"


DEFAULT_WORK_DIR = Path("training/shapes")


GRID = 14  # token-label grid: one cell per ViT patch (16 px); the ResNet uses 7×7 by 2×2 pooling


@dataclass
class TrainConfig:
    arch: str = "vit"  # a key of ARCHS
    steps: int = 2400  # optimiser steps in the whole schedule
    batch_size: int = 32
    lr: float = 6e-4  # peak learning rate after warm-up
    warmup_steps: int = 150
    weight_decay: float = 0.05
    label_smoothing: float = 0.1
    token_label_weight: float = 1.0  # weight of the dense auxiliary loss
    distill_weight: float = 0.0  # share of the class loss from a teacher's soft predictions
    distill_teacher: str = "demo-resnet"  # a load_model spec; its logits are computed once
    distill_attention: float = 0.0  # weight of KL to the teacher's (a ViT's) last-layer CLS attention
    stem_from: str = ""  # hybrid only: a load_model spec whose ResNet stages become the frozen stem
    curriculum_frac: float = 0.15  # share of steps that see only the easy images
    train_size: int = IMAGE_SIZE  # progressive resizing: train at this side first ...
    full_size_frac: float = 0.2  # ... and at full size for this final share of the steps
    threads: int = 2  # torch threads (this machine has 2 cores)
    device: str = "auto"  # "auto" = CUDA when present (bf16 autocast), else CPU
    seed: int = 0
    stop_at: int = 0  # end this invocation at this step although the schedule runs to `steps` (0: don't)
    checkpoint_every: int = 100
    val_size: int = 240  # validation images scored at every checkpoint
    train_images: int = 0  # sample from the first N pre-rendered images only (0: all of them)
    extra: dict = field(default_factory=dict)


RECIPES: dict[str, list[dict]] = {
    "resnet": [
        # 96 px (about 5× cheaper per image than 224) for the first 2,380 steps, the easy images for
        # the first 380, then 224 px, where full-size accuracy follows within a few hundred steps
        {
            "steps": 3800,
            "lr": 1e-3,
            "warmup_steps": 150,
            "curriculum_frac": 0.1,
            "train_size": 96,
            "full_size_frac": 0.3737,
            "checkpoint_every": 200,
        },
    ],
    "vit": [
        # 1. 112 px (7×7 tokens, ~4× cheaper per image than 224), easy images for the first 10 %
        {
            "steps": 3000,
            "stop_at": 2400,
            "lr": 5e-4,
            "warmup_steps": 200,
            "curriculum_frac": 0.1,
            "train_size": 112,
            "checkpoint_every": 200,
            "train_images": 18000,  # the first three stages had an 18,000-image set
        },
        # 2. re-warmed, half the class loss from demo-resnet's soft predictions; 224 px from step 4992
        {
            "steps": 6400,
            "lr": 4e-4,
            "warmup_steps": 2500,
            "curriculum_frac": 0.0,
            "train_size": 112,
            "full_size_frac": 0.22,
            "distill_weight": 0.5,
            "checkpoint_every": 200,
            "train_images": 18000,
        },
        # 3. 224 px throughout, re-warmed to a lower peak
        {
            "steps": 8000,
            "lr": 2.5e-4,
            "warmup_steps": 6500,
            "curriculum_frac": 0.0,
            "train_size": 224,
            "distill_weight": 0.3,
            "checkpoint_every": 200,
            "train_images": 18000,
        },
        # 4. twice the images (the training set fit almost perfectly at 18,000), 224 px, re-warmed
        {
            "steps": 9600,
            "lr": 2e-4,
            "warmup_steps": 8100,
            "curriculum_frac": 0.0,
            "train_size": 224,
            "distill_weight": 0.3,
            "checkpoint_every": 200,
        },
        # 5. the same, re-warmed once more to a lower peak (test top-1 97.0 % → 97.8 %)
        {
            "steps": 10400,
            "lr": 1.5e-4,
            "warmup_steps": 9700,
            "curriculum_frac": 0.0,
            "train_size": 224,
            "distill_weight": 0.3,
            "checkpoint_every": 200,
        },
    ],
    "plainvit": [
        # one long schedule, resumed across sessions: 112 px (7×7 tokens, position embeddings
        # resampled by timm's resample_abs_pos_embed) for the first 75 %, the easy images first,
        # half the class loss from demo-vit's soft predictions, and demo-vit's last-layer CLS
        # attention as a target for the student's (attention distillation)
        {
            "steps": 12000,
            "lr": 5e-4,
            "warmup_steps": 300,
            "curriculum_frac": 0.05,
            "train_size": 112,
            "full_size_frac": 0.25,
            "distill_weight": 0.5,
            "distill_teacher": "demo-vit",
            "distill_attention": 1.0,
            "train_images": 18000,  # like demo-vit's first stages; demo-vit's pass covers these only
            "threads": 1,
            "checkpoint_every": 100,
        },
    ],
    "hybrid": [
        # the transformer (and its class token, position embeddings, head) learns to read the trained
        # ResNet's frozen stage-3 features: top-1 passes 95 % within about 250 steps
        {
            "steps": 600,
            "lr": 5e-4,
            "warmup_steps": 50,
            "curriculum_frac": 0.0,
            "stem_from": "demo-resnet",
            "checkpoint_every": 100,
        },
    ],
}


def recipe_stages(arch: str, **flags) -> list[TrainConfig]:
    """The arch's recorded stages, or one custom stage when any flag (not None) is given."""
    given = {k: v for k, v in flags.items() if v is not None and k != "arch"}
    if given:
        return [TrainConfig(arch=arch, **given)]
    return [TrainConfig(arch=arch, **stage) for stage in RECIPES[arch]]
