"""Data: render the training set once (uint8 memmaps), then sample it with free symmetry augmentation."""

from __future__ import annotations

import json
import multiprocessing as mp
import time
from pathlib import Path

import numpy as np
import torch

from vitdemo.data.shapes import IMAGE_SIZE, SPLIT_SEEDS, render_batch
from vitdemo.train.shapes_recipe.config import GRID

EASY, FULL = 4000, 32000  # images in the two parts of the pre-rendered training set


CHUNK = 200


def _render_chunk(args: tuple[int, int, bool]) -> tuple[int, np.ndarray, np.ndarray, np.ndarray]:
    start, count, easy = args
    kwargs = {"clutter": 0.15, "scale_range": (0.3, 0.6)} if easy else {}
    # Easy images come from their own index range so they never duplicate the full ones.
    offset = 10_000_000 if easy else 0
    images, labels, masks = render_batch(SPLIT_SEEDS["train"], offset + start, count, **kwargs)
    cover = masks.reshape(count, GRID, IMAGE_SIZE // GRID, GRID, IMAGE_SIZE // GRID).mean((2, 4))
    return start, images, labels, cover.astype(np.float16)


def render_training_set(work_dir: Path, processes: int = 2, easy: int = EASY, full: int = FULL) -> None:
    """Pre-render `easy` + `full` training images into memmaps under work_dir."""
    work_dir.mkdir(parents=True, exist_ok=True)
    n = easy + full
    images = np.lib.format.open_memmap(
        work_dir / "images.npy", "w+", np.uint8, (n, IMAGE_SIZE, IMAGE_SIZE, 3)
    )
    labels = np.zeros(n, np.int64)
    cover = np.zeros((n, GRID, GRID), np.float16)
    jobs = [(s, min(CHUNK, easy - s), True) for s in range(0, easy, CHUNK)]
    jobs += [(s, min(CHUNK, full - s), False) for s in range(0, full, CHUNK)]
    t0 = time.time()
    with mp.Pool(processes) as pool:
        for done, (job, (start, im, lab, cov)) in enumerate(
            zip(jobs, pool.imap(_render_chunk, jobs), strict=True), 1
        ):
            base = 0 if job[2] else easy
            images[base + start : base + start + len(im)] = im
            labels[base + start : base + start + len(im)] = lab
            cover[base + start : base + start + len(im)] = cov
            if done % 10 == 0:
                print(f"rendered {done}/{len(jobs)} chunks in {time.time() - t0:.0f}s", flush=True)
    images.flush()
    np.save(work_dir / "labels.npy", labels)
    np.save(work_dir / "cover.npy", cover)
    (work_dir / "rendered.json").write_text(json.dumps({"easy": easy, "full": full}))


class TrainingSet:
    """Random batches from the pre-rendered set, each turned by one of the 8 square symmetries."""

    def __init__(self, work_dir: Path):
        self.images = np.load(work_dir / "images.npy", mmap_mode="r")
        self.labels = np.load(work_dir / "labels.npy")
        self.cover = np.load(work_dir / "cover.npy").astype(np.float32)
        self.easy = json.loads((work_dir / "rendered.json").read_text())["easy"]
        self.teacher_maps: np.ndarray | None = None  # (N, G, G) a teacher's attention, turned like cover

    def batch(self, rng: np.random.Generator, size: int, easy_only: bool, limit: int = 0):
        high = self.easy if easy_only else min(limit or len(self.labels), len(self.labels))
        idx = np.sort(rng.choice(high, size, replace=False))
        x = torch.from_numpy(np.ascontiguousarray(self.images[idx])).permute(0, 3, 1, 2)  # (B, 3, H, W) uint8
        cover = torch.from_numpy(self.cover[idx])  # (B, G, G)
        maps = torch.from_numpy(self.teacher_maps[idx]) if self.teacher_maps is not None else cover
        k, flip = int(rng.integers(4)), bool(rng.integers(2))
        x, cover, maps = (
            torch.rot90(x, k, (2, 3)),
            torch.rot90(cover, k, (1, 2)),
            torch.rot90(maps, k, (1, 2)),
        )
        if flip:
            x, cover, maps = x.flip(3), cover.flip(2), maps.flip(2)
        maps = maps if self.teacher_maps is not None else None
        return x, torch.from_numpy(self.labels[idx]), cover, idx, maps
