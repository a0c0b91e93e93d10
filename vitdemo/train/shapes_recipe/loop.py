"""The recipe's training loop: resumable stages of token-labelled, optionally distilled training."""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from vitdemo.models.preprocessing import Preprocessing
from vitdemo.train.augment import normalise_batch
from vitdemo.train.checkpoints import load_training_state, save_training_state
from vitdemo.train.device import autocast, resolve_device
from vitdemo.train.optim import make_optimizer, set_lr, warmup_cosine
from vitdemo.train.shapes_recipe.archs import ARCHS
from vitdemo.train.shapes_recipe.cards import export
from vitdemo.train.shapes_recipe.config import BUNDLED_DIR, TrainConfig
from vitdemo.train.shapes_recipe.distillation import (
    attention_distillation_loss,
    distillation_loss,
    teacher_attention,
    teacher_logits,
)
from vitdemo.train.shapes_recipe.history import record_history
from vitdemo.train.shapes_recipe.hybrid_stem import copy_stem
from vitdemo.train.shapes_recipe.progressive_resizing import at_low_resolution, resize_batch
from vitdemo.train.shapes_recipe.rendered_set import TrainingSet
from vitdemo.train.shapes_recipe.token_labels import TokenLabelled, token_label_loss
from vitdemo.train.shapes_recipe.validation import accuracy, validation_set


def lr_at(step: int, cfg: TrainConfig) -> float:
    """The stage's learning rate: warm-up, then cosine decay to 2 % of the peak (the shared schedule)."""
    return warmup_cosine(step, cfg.steps, cfg.warmup_steps, cfg.lr, floor=0.02)


def _teacher_outputs(
    cfg: TrainConfig, work_dir: Path, data: TrainingSet, device: torch.device
) -> np.ndarray | None:
    """The teacher's logits per pre-rendered image (and its attention maps into `data`), or None."""
    if cfg.distill_attention > 0:  # a ViT teacher: its attention and logits in one pass
        data.teacher_maps, logits = teacher_attention(
            work_dir, cfg.distill_teacher, cfg.train_images or len(data.labels), device
        )
        return logits if cfg.distill_weight > 0 else None
    return teacher_logits(work_dir, cfg.distill_teacher) if cfg.distill_weight > 0 else None


class _Losses:
    """The step's loss terms: class (optionally distilled), token-label, and attention distillation."""

    def __init__(self, cfg: TrainConfig, teacher: np.ndarray | None) -> None:
        self.cfg, self.teacher = cfg, teacher
        self.cls: torch.Tensor | None = None
        self.token: torch.Tensor | None = None
        self.attention: torch.Tensor | None = None

    def total(
        self,
        outputs: tuple[torch.Tensor, torch.Tensor, torch.Tensor | None],
        y: torch.Tensor,
        cover: torch.Tensor,
        idx: np.ndarray,
        teacher_maps: torch.Tensor | None,
    ) -> torch.Tensor:
        """The weighted sum to minimise; the terms stay on `self` for the log.

        Args:
            outputs: the model's logits (B, C), dense logits (B, C + 1, g, g) and CLS attention.
            y: class indices (B,); cover: object cover per cell (B, G, G).
            idx: the batch's image indices (rows of the teacher's cached logits).
            teacher_maps: the teacher's CLS attention (B, G, G), or None without attention distillation.
        """
        cfg = self.cfg
        logits, dense, cls_attn = outputs
        self.cls = F.cross_entropy(logits.float(), y, label_smoothing=cfg.label_smoothing)
        if self.teacher is not None:  # DeiT-style distillation from the teacher's soft targets
            soft = distillation_loss(logits.float(), torch.from_numpy(self.teacher[idx]).to(y.device))
            self.cls = (1 - cfg.distill_weight) * self.cls + cfg.distill_weight * soft
        self.token = token_label_loss(dense.float(), y, cover)
        loss = self.cls + cfg.token_label_weight * self.token
        if teacher_maps is not None:  # the teacher's CLS attention as the student's target
            self.attention = attention_distillation_loss(cls_attn.float(), teacher_maps.to(y.device))
            loss = loss + cfg.distill_attention * self.attention
        return loss

    def record(self) -> dict:
        """The last step's terms, as the log line writes them."""
        attention = {"attention_loss": self.attention.item()} if self.attention is not None else {}
        return {"loss": self.cls.item(), "token_loss": self.token.item(), **attention}


def build_model_and_optimizer(
    cfg: TrainConfig, device: torch.device
) -> tuple[TokenLabelled, torch.optim.Optimizer]:
    """The stage's token-labelled model on `device` and its optimizer, as a checkpoint expects them."""
    model = TokenLabelled(cfg.arch, freeze_stem=bool(cfg.stem_from), attention=cfg.distill_attention > 0)
    # channels-last convolutions: 30-40 % faster ResNet steps on this CPU (and on GPUs)
    model = model.to(device, memory_format=torch.channels_last)
    trainable = [p for p in model.parameters() if p.requires_grad]
    # One group with weight decay on every tensor and the for-each kernel: the recorded stages'
    # setting, and the committed checkpoints' optimizer state has exactly this one group.
    optimizer = make_optimizer(
        trainable, lr=cfg.lr, weight_decay=cfg.weight_decay, device=device, decay_1d=True, fused=False
    )
    return model, optimizer


def _start(cfg: TrainConfig, work_dir: Path, model: TokenLabelled, optimizer, device: torch.device) -> int:
    """Resume from the stage's checkpoint (the step reached), or start fresh (step 0)."""
    ckpt_path = work_dir / f"{cfg.arch}.ckpt.pt"
    if ckpt_path.exists():  # our own checkpoint, tensors only
        step = load_training_state(ckpt_path, model, optimizer, device)
        print(f"resumed {cfg.arch} at step {step}", flush=True)
        return step
    if cfg.stem_from:  # a fresh run starts from the trained ResNet's stages
        print(f"stem from {cfg.stem_from} (weights {copy_stem(model, cfg.stem_from)})", flush=True)
    return 0


def _validate_and_save(
    cfg: TrainConfig, work_dir: Path, model: TokenLabelled, optimizer, step: int, low_res: bool
) -> dict:
    """Validation accuracy (and at the training size while at low resolution), checkpoint saved."""
    preprocessing = Preprocessing.from_dict(ARCHS[cfg.arch]["preprocessing"])
    val_images, val_labels = validation_set(cfg.val_size)
    val_acc = accuracy(model.net, preprocessing, val_images, val_labels)
    # At low resolution, also at the training size: what the model has learnt so far.
    val_low = accuracy(model.net, preprocessing, val_images, val_labels, cfg.train_size) if low_res else None
    save_training_state(work_dir / f"{cfg.arch}.ckpt.pt", model, optimizer, step)
    at_low = f" ({val_low:.3f} at {cfg.train_size} px)" if val_low is not None else ""
    print(f"{cfg.arch} step {step}: val acc {val_acc:.3f}{at_low} (checkpoint saved)", flush=True)
    return {"val_acc": val_acc, "val_acc_train_size": val_low}


def train(cfg: TrainConfig, work_dir: Path, out_root: Path = BUNDLED_DIR) -> Path:
    """Run (or resume) one stage from `work_dir`'s checkpoint to `cfg.stop_at or cfg.steps`; export it.

    Returns:
        The exported model directory under `out_root`.
    """
    started = time.time()  # the history's minutes include setup (teacher logits too)
    torch.set_num_threads(cfg.threads)
    torch.manual_seed(cfg.seed)
    preprocessing = Preprocessing.from_dict(ARCHS[cfg.arch]["preprocessing"])
    data = TrainingSet(work_dir)
    device = resolve_device(cfg.device)
    model, optimizer = build_model_and_optimizer(cfg, device)
    trainable = [p for p in model.parameters() if p.requires_grad]
    step = first_step = _start(cfg, work_dir, model, optimizer, device)
    rng = np.random.default_rng([cfg.seed, step])
    t0, seen = time.time(), 0
    end = cfg.stop_at or cfg.steps
    # Only a stage that still has steps to run needs the teacher (replayed stages skip it).
    losses = _Losses(cfg, _teacher_outputs(cfg, work_dir, data, device) if step < end else None)
    while step < end:
        model.train()
        x, y, cover, idx, teacher_maps = data.batch(
            rng, cfg.batch_size, easy_only=step < cfg.curriculum_frac * cfg.steps, limit=cfg.train_images
        )
        set_lr(optimizer, lr_at(step, cfg))
        x, y, cover = x.to(device), y.to(device), cover.to(device)
        x = normalise_batch(x, preprocessing).contiguous(memory_format=torch.channels_last)
        low_res = at_low_resolution(step, cfg)
        if low_res:
            x = resize_batch(x, cfg.train_size)
        with autocast(device):
            outputs = model(x)
        loss = losses.total(outputs, y, cover, idx, teacher_maps)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(trainable, 1.0)
        optimizer.step()
        step += 1
        seen += len(y)
        if step % 20 == 0:
            print(
                f"{cfg.arch} step {step}/{cfg.steps} loss {losses.cls.item():.3f} tl {losses.token.item():.3f} "
                f"lr {lr_at(step, cfg):.2e} {seen / (time.time() - t0):.1f} img/s",
                flush=True,
            )
        if step % cfg.checkpoint_every == 0 or step == end:
            figures = _validate_and_save(cfg, work_dir, model, optimizer, step, low_res)
            record_history(work_dir, cfg, first_step, step, started, device.type)
            with (work_dir / f"{cfg.arch}.log.jsonl").open("a") as f:
                f.write(json.dumps({"step": step, **losses.record(), **figures, "time": time.time()}) + "\n")
    return export(model, cfg, work_dir, out_root)


def train_stages(stages: list[TrainConfig], work_dir: Path, out_root: Path = BUNDLED_DIR) -> Path:
    """Run (or resume, or skip when done) each stage in order; the model directory of the last."""
    for cfg in stages:
        out = train(cfg, work_dir, out_root)
    return out
