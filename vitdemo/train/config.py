"""What a fine-tuning run does, as plain data: saved as `config.json` in its run directory."""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass, field
from typing import Any

from vitdemo.errors import VitdemoError

MODE_KINDS = ("head", "last", "full")  # "last" takes a block count: "last-2"
OPTIMIZERS = ("adamw", "sgd")
SCHEDULES = ("cosine", "step", "constant")
# Learning rates that work out of the box: a fresh linear head tolerates a large step, a
# pretrained backbone wants a small one or it forgets what it knew.
DEFAULT_LR = {"head": 1e-3, "last": 3e-4, "full": 1e-4}
# Epochs that fit a lesson: head-mode epochs take milliseconds on cached features, while a
# last-N or full epoch runs the backbone forward and backward on every image.
DEFAULT_EPOCHS = {"head": 20, "last": 5, "full": 5}


class ConfigError(VitdemoError):
    """A fine-tuning setting is out of range or unknown."""


def parse_mode(mode: str) -> tuple[str, int]:
    """Parse a mode: "head" → ("head", 0), "last-2" or "last2" → ("last", 2), "full" → ("full", 0)."""
    text = str(mode).strip().lower()
    if text in ("head", "full"):
        return text, 0
    match = re.fullmatch(r"last-?(\d+)", text)
    if match and int(match.group(1)) >= 1:
        return "last", int(match.group(1))
    raise ConfigError(f"Unknown mode '{mode}': use head, last-N (e.g. last-2) or full.")


def default_epochs(mode: str) -> int:
    """The epochs a run of `mode` gets when none are given (an unknown mode fails in validate())."""
    try:
        return DEFAULT_EPOCHS[parse_mode(mode)[0]]
    except ConfigError:
        return DEFAULT_EPOCHS["head"]


@dataclass
class FineTuneConfig:
    """Settings of one fine-tuning run. Defaults are the classroom defaults (head mode, Shapes)."""

    model: str = "demo-vit"  # model spec for vitdemo.load_model (or the model handed to the manager)
    data: str = "shapes"  # "shapes", an image folder, or a .zip/.tar.gz archive of one
    shapes_classes: list[str] | None = None  # Shapes classes to use; None = all six
    shapes_per_class: int = 40  # Shapes images rendered per class (train + validation)
    mode: str = "head"  # "head" (frozen backbone), "last-N" (last N blocks + head), "full"
    epochs: int | None = None  # None = DEFAULT_EPOCHS for the mode (filled in on creation)
    batch_size: int = 32
    lr: float | None = None  # None = DEFAULT_LR for the mode
    optimizer: str = "adamw"  # "adamw" | "sgd" (with momentum, as in the seeds)
    momentum: float = 0.9  # SGD only
    weight_decay: float = 0.01  # not applied to biases and norm weights
    schedule: str = "cosine"  # "cosine" (linear warm-up then cosine to 0) | "step" | "constant"
    warmup_fraction: float = 0.1  # share of all steps spent warming up (cosine only)
    step_epochs: int = 0  # step schedule: multiply lr by step_gamma every this many epochs; 0 = epochs // 3
    step_gamma: float = 0.1
    label_smoothing: float = 0.0
    augment: bool = False  # random resized crops, flips and colour jitter on the training images
    head_views: int = 3  # head mode with augment: cached views per image (1 plain + augmented ones)
    val_fraction: float = 0.2  # share of each class held out for validation
    seed: int = 0  # split, head init, shuffling and augmentation
    soup_k: int = 0  # average the best K epochs' weights at the end ("model soup"); 0 = off
    device: str | None = None  # "cpu", "cuda", "cuda:1"; None = the first GPU if any, else CPU
    name: str = ""  # optional label shown next to the run id
    extra: dict[str, Any] = field(default_factory=dict)  # free-form notes kept with the run

    def __post_init__(self) -> None:
        if self.epochs is None:
            self.epochs = default_epochs(self.mode)

    @property
    def mode_kind(self) -> str:
        return parse_mode(self.mode)[0]

    @property
    def last_blocks(self) -> int:
        return parse_mode(self.mode)[1]

    @property
    def learning_rate(self) -> float:
        return self.lr if self.lr is not None else DEFAULT_LR[self.mode_kind]

    def validate(self) -> FineTuneConfig:
        """Raise ConfigError (one line) for a setting out of range; returns self."""
        parse_mode(self.mode)
        checks = [
            (self.epochs >= 1, f"epochs must be at least 1, not {self.epochs}"),
            (self.batch_size >= 1, f"batch size must be at least 1, not {self.batch_size}"),
            (self.lr is None or self.lr > 0, f"learning rate must be positive, not {self.lr}"),
            (self.optimizer in OPTIMIZERS, f"optimizer must be one of {', '.join(OPTIMIZERS)}"),
            (self.schedule in SCHEDULES, f"schedule must be one of {', '.join(SCHEDULES)}"),
            (self.weight_decay >= 0, "weight decay cannot be negative"),
            (0 <= self.warmup_fraction < 1, "warm-up share must be in [0, 1)"),
            (0 < self.val_fraction < 1, "validation share must be between 0 and 1"),
            (self.soup_k >= 0, "soup size cannot be negative"),
            (self.head_views >= 1, "head views must be at least 1"),
            (self.shapes_per_class >= 2, "Shapes needs at least 2 images per class"),
            (0 <= self.label_smoothing < 1, "label smoothing must be in [0, 1)"),
        ]
        for ok, message in checks:
            if not ok:
                raise ConfigError(f"Bad setting: {message}.")
        return self

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> FineTuneConfig:
        """Build from a dict, ignoring keys this version does not know (older/newer run dirs)."""
        known = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in known})
