"""Distillation: a teacher's soft predictions (Hinton et al. 2015; DeiT) and its last-layer CLS
attention as targets, with the teacher's outputs computed once per pre-rendered image and cached.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from vitdemo.data.shapes import SHAPE_CLASSES
from vitdemo.train.augment import normalise_batch
from vitdemo.train.checkpoints import weights_digest
from vitdemo.train.shapes_recipe.config import GRID


@torch.no_grad()
def teacher_logits(work_dir: Path, teacher: str) -> np.ndarray:
    """The teacher's logits for every pre-rendered image, computed once and cached in work_dir.

    The class of a shape does not change under the flips and turns used as augmentation, so one
    forward pass per image serves all eight views (distillation then costs no training time).
    """
    from vitdemo.models import load_model

    model = load_model(teacher, device="cpu")
    # Keyed by the teacher's weights: a retrained teacher never reuses stale logits.
    name = teacher.replace("/", "_").replace(":", "_")
    path = work_dir / f"teacher-{name}-{weights_digest(model.network)}.npy"
    images = np.load(work_dir / "images.npy", mmap_mode="r")
    done = np.load(path) if path.exists() else np.zeros((0, len(SHAPE_CLASSES)), np.float32)
    if len(done) == len(images):
        return done
    out = np.zeros((len(images), len(SHAPE_CLASSES)), np.float32)
    out[: len(done)] = done  # a set rendered with more images keeps its first images: extend only
    for i in range(len(done), len(images), 100):
        x = normalise_batch(
            torch.from_numpy(np.array(images[i : i + 100])).permute(0, 3, 1, 2), model.preprocessing
        )
        out[i : i + 100] = model.logits(x).float().numpy()
    np.save(path, out)
    return out


@torch.no_grad()
def teacher_attention(
    work_dir: Path, teacher: str, count: int, device: torch.device | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """A ViT teacher's last-layer CLS attention (N, 14, 14) and logits (N, C) for pre-rendered images.

    One pass serves both, for the first `count` images (what the stage samples), cached in work_dir
    and extended in place when a later stage samples more. Flips and turns of an image turn its
    attention map the same way (the batch sampler turns it with the image), so one pass serves all
    eight views. Rows past `count` stay zero. On a GPU (`device`) the pass takes seconds.
    """
    from vitdemo.models import load_model

    device = device or torch.device("cpu")
    model = load_model(teacher, device=str(device))
    name = teacher.replace("/", "_").replace(":", "_")
    stem = work_dir / f"teacher-attention-{name}-{weights_digest(model.network)}"
    images = np.load(work_dir / "images.npy", mmap_mode="r")
    maps = np.zeros((len(images), GRID, GRID), np.float32)
    logits = np.zeros((len(images), len(SHAPE_CLASSES)), np.float32)
    done = 0
    if stem.with_suffix(".maps.npy").exists():
        cached_maps, cached_logits = (
            np.load(stem.with_suffix(".maps.npy")),
            np.load(stem.with_suffix(".logits.npy")),
        )
        done = len(cached_maps)
        maps[:done], logits[:done] = cached_maps, cached_logits
    if done >= count:
        return maps, logits
    net = model.network
    last = LastBlockInput(net)
    for i in range(done, count, 100):
        j = min(i + 100, count)
        x = normalise_batch(
            torch.from_numpy(np.array(images[i:j])).permute(0, 3, 1, 2).to(device), model.preprocessing
        )
        logits[i:j] = net(x).float().cpu().numpy()
        cls = cls_attention(net.blocks[-1].attn, last.tokens, net.num_prefix_tokens)  # (B, 196)
        maps[i:j] = cls.reshape(-1, GRID, GRID).float().cpu().numpy()
        if j % 2000 == 0 or j == count:  # an interrupted pass resumes from here
            np.save(stem.with_suffix(".maps.npy"), maps[:j].astype(np.float16))
            np.save(stem.with_suffix(".logits.npy"), logits[:j])
            print(f"teacher {teacher}: {j}/{count} images", flush=True)
    last.remove()
    return maps, logits


class LastBlockInput:
    """Keeps what the last block's attention reads (its first norm's output) from each forward pass.

    Training-time only, on networks this script owns (never a shared model): the student's and
    the teacher's last-layer CLS attention are computed from it by `cls_attention`.
    """

    def __init__(self, net: torch.nn.Module):
        self.tokens: torch.Tensor | None = None
        self._handle = net.blocks[-1].norm1.register_forward_hook(self._keep)

    def _keep(self, module, args, output: torch.Tensor) -> None:
        self.tokens = output  # (B, N, D)

    def remove(self) -> None:
        self._handle.remove()


def cls_attention(attn: torch.nn.Module, tokens: torch.Tensor, prefix: int) -> torch.Tensor:
    """Softmax attention of the class token to each patch, mean over heads: (B, N - prefix).

    timm's eager attention (softmax(q·scale @ kᵀ)) for the class-token row only; the fused path
    the network runs never materialises it. The same definition as the app's CLS map.
    """
    b, n, _ = tokens.shape
    qkv = attn.qkv(tokens).reshape(b, n, 3, attn.num_heads, attn.head_dim).permute(2, 0, 3, 1, 4)
    q, k = attn.q_norm(qkv[0]), attn.k_norm(qkv[1])  # (B, H, N, hd)
    scores = (q[:, :, :1] * attn.scale) @ k.transpose(-2, -1)  # (B, H, 1, N)
    return scores.softmax(-1)[:, :, 0, prefix:].mean(1)


def attention_distillation_loss(student: torch.Tensor, teacher: torch.Tensor) -> torch.Tensor:
    """KL(teacher ‖ student) between CLS attention maps over the patches, (B, g, g) each.

    The teacher's 14×14 map is pooled to the student's grid at low resolution; both are
    renormalised over the patches (the class token's attention to itself is left out).
    """
    g = student.shape[-1]
    if teacher.shape[-1] != g:
        teacher = F.adaptive_avg_pool2d(teacher[:, None], g)[:, 0]
    t = teacher.flatten(1) / teacher.flatten(1).sum(1, keepdim=True)
    s = student.flatten(1) / student.flatten(1).sum(1, keepdim=True)
    return (t * (t.clamp_min(1e-8).log() - s.clamp_min(1e-8).log())).sum(1).mean()


def distillation_loss(logits: torch.Tensor, teacher: torch.Tensor, temperature: float = 2.0) -> torch.Tensor:
    """Hinton et al. 2015 soft-target loss: KL(teacher ‖ student) at temperature T, scaled by T²."""
    t = temperature
    return F.kl_div(
        (logits / t).log_softmax(1), (teacher / t).log_softmax(1), log_target=True, reduction="batchmean"
    ) * (t * t)
