"""Data-parallel training under torchrun: this process's rank, its share of the data, DDP wrapping.

A run that is not launched by torchrun is rank 0 of 1, and every helper here is then a no-op.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from vitdemo.train.checkpoints import weights_checksum


@dataclass
class DistContext:
    """This process's place in a torchrun job (rank 0 of 1 when not distributed)."""

    rank: int = 0
    world_size: int = 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @classmethod
    def current(cls) -> DistContext:
        dist = torch.distributed
        if dist.is_available() and dist.is_initialized():
            return cls(dist.get_rank(), dist.get_world_size())
        return cls()


def shard(indices: torch.Tensor, dist: DistContext) -> torch.Tensor:
    """This rank's share of `indices`, padded by wrap-around so every rank takes the same steps."""
    if dist.world_size == 1:
        return indices
    per_rank = -(-len(indices) // dist.world_size)
    padded = torch.cat([indices, indices[: per_rank * dist.world_size - len(indices)]])
    return padded[dist.rank :: dist.world_size]


def wrap_ddp(module: nn.Module, dist: DistContext, device: torch.device) -> nn.Module:
    """`module` wrapped in DistributedDataParallel (gradients averaged across ranks), or itself."""
    if dist.world_size == 1:
        return module
    from torch.nn.parallel import DistributedDataParallel

    device_ids = [device.index or 0] if device.type == "cuda" else None
    return DistributedDataParallel(module, device_ids=device_ids)


def sync_buffers(module: nn.Module, dist: DistContext) -> None:
    """Copy rank 0's buffers (BatchNorm statistics) to every rank, so all evaluate the same model."""
    if dist.world_size == 1:
        return
    for buffer in module.buffers():
        torch.distributed.broadcast(buffer, src=0)


def replica_check(network: nn.Module, dist: DistContext) -> dict | None:
    """Weights checksum of every rank (they must be identical after DDP training); None alone."""
    if dist.world_size == 1:
        return None
    checksums: list[str | None] = [None] * dist.world_size
    torch.distributed.all_gather_object(checksums, weights_checksum(network))
    return {"world_size": dist.world_size, "checksums": checksums, "identical": len(set(checksums)) == 1}
