"""What one epoch feeds the loop, per training mode: batches, the module trained, validation logits.

`HeadTrainer` (head mode) trains a linear classifier on cached backbone features; `NetworkTrainer`
(last-N and full modes) runs forward and backward through the network on (augmented) images.
Both offer the same four members to `vitdemo.train.loop.TrainingLoop`.
"""

from __future__ import annotations

from collections.abc import Iterator

import torch
from torch import nn

from vitdemo.train.augment import model_input
from vitdemo.train.device import autocast
from vitdemo.train.distributed import shard
from vitdemo.train.feature_cache import cache_features
from vitdemo.train.network import set_train_mode
from vitdemo.train.run_state import RunState


def batches(order: torch.Tensor, batch_size: int) -> Iterator[torch.Tensor]:
    for start in range(0, len(order), batch_size):
        yield order[start : start + batch_size]


def run_features(
    run: RunState, images: torch.Tensor, phase: str, augment_seed: int | None = None
) -> torch.Tensor:
    """`cache_features` for this run, reporting progress as `phase` (and stopping on request)."""
    return cache_features(
        run.network,
        images,
        run.model.preprocessing,
        run.device,
        batch_size=max(1, run.config.batch_size * 2),
        on_progress=lambda done, total: run.phase(phase, done, total),
        augment_seed=augment_seed,
    )


class HeadTrainer:
    """Head mode: a linear classifier on cached backbone features; epochs take milliseconds."""

    def __init__(self, run: RunState, val_features: torch.Tensor) -> None:
        self.run = run
        config = run.config
        views = config.head_views if config.augment else 1
        order = shard(
            torch.randperm(len(run.data.train_labels), generator=torch.Generator().manual_seed(config.seed)),
            run.dist,
        )
        images = run.data.train_images[order]
        cached = [run_features(run, images, "caching features")]
        for v in range(1, views):  # augmented copies, cached too: augmentation stays free per epoch
            cached.append(
                run_features(run, images, f"caching augmented view {v}", augment_seed=config.seed * 1000 + v)
            )
        self.train_features = torch.stack(cached)  # (V, N, D)
        self.train_labels = run.data.train_labels[order].to(run.device)
        self.val_features = val_features
        self.module: nn.Module = run.network.get_classifier()

    @property
    def steps_per_epoch(self) -> int:
        return -(-len(self.train_labels) // self.run.config.batch_size)

    def train_mode(self) -> None:
        self.module.train()

    def epoch_batches(self, epoch: int) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        generator = torch.Generator().manual_seed(self.run.config.seed + 7919 * epoch)
        n = len(self.train_labels)
        order = torch.randperm(n, generator=generator)
        view = torch.randint(0, len(self.train_features), (n,), generator=generator)
        for idx in batches(order, self.run.config.batch_size):
            yield self.train_features[view[idx], idx], self.train_labels[idx]

    @torch.inference_mode()
    def val_logits(self) -> torch.Tensor:
        return self.module.eval()(self.val_features)


class NetworkTrainer:
    """last-N and full modes: forward and backward through the network on (augmented) images."""

    def __init__(self, run: RunState) -> None:
        self.run = run
        self.module: nn.Module = run.network

    @property
    def steps_per_epoch(self) -> int:
        per_rank = -(-len(self.run.data.train_labels) // self.run.dist.world_size)
        return -(-per_rank // self.run.config.batch_size)

    def train_mode(self) -> None:
        set_train_mode(self.run.network, self.run.kind, self.run.last_n)

    def epoch_batches(self, epoch: int) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        run, config = self.run, self.run.config
        # The same permutation on every rank (same seed), then each rank takes its share.
        generator = torch.Generator().manual_seed(config.seed + 7919 * epoch)
        order = shard(torch.randperm(len(run.data.train_labels), generator=generator), run.dist)
        augment_generator = torch.Generator().manual_seed(
            config.seed * 1_000_003 + epoch * 31 + run.dist.rank
        )
        for idx in batches(order, config.batch_size):
            x = model_input(
                run.data.train_images[idx],
                run.model.preprocessing,
                augment=config.augment,
                generator=augment_generator,
            )
            yield run.layout(x.to(run.device, non_blocking=True)), run.data.train_labels[idx].to(run.device)

    @torch.inference_mode()
    def val_logits(self) -> torch.Tensor:
        run = self.run
        run.network.eval()
        batch = max(1, run.config.batch_size * 2)
        out = []
        for start in range(0, len(run.data.val_images), batch):
            x = model_input(run.data.val_images[start : start + batch], run.model.preprocessing).to(
                run.device
            )
            with autocast(run.device):
                out.append(run.network(run.layout(x)).float())
        return torch.cat(out)
