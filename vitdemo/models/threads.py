"""How many CPU threads a model's ops use: one for small networks, the process's setting otherwise.

A demo model's forward pass is ~20 ms of tiny ops. Spreading each op over an OpenMP team saves
little, and every op ends at a barrier where the team waits for its slowest thread: when anything
else wants the cores (the other sessions of a class, a training run, the browser on the same
laptop), one descheduled thread stalls the whole op. Measured in the app on this 2-core machine,
one student uploading (headless Chromium on the same cores): demo-vit + demo-resnet's top-3 were
ready 0.33–0.62 s after the upload with two threads per op and 0.12–0.24 s with one. Big networks
(ViT-B: ~0.3 s per forward here, in large matrix products) keep the process's setting, where the
second core pays off.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import torch

from vitdemo.models.loaded import LoadedModel

# Below this many parameters a model runs single-threaded: the demo models have ~1.3 M,
# ResNet-18 11.7 M, ViT-S 22 M, ViT-B 86 M.
SMALL_MODEL_PARAMETERS = 5_000_000

# Threads per op for big models: torch's default, or the server's setting (`set_process_threads`).
# Kept here rather than read back from torch: a thread started while another ran a small model
# inherits that call's 1 for its first op, and must still get the full count for a big one.
_process_threads = torch.get_num_threads()


def set_process_threads(n: int) -> None:
    """Make `n` the threads per op of big models, in this thread and in threads started later."""
    global _process_threads
    torch.set_num_threads(n)
    _process_threads = n


@contextlib.contextmanager
def cpu_threads(n: int | None) -> Iterator[None]:
    """Run a block with `n` intra-op CPU threads (None: unchanged), restoring the count after.

    With PyTorch's OpenMP backend the count of a running thread is its own (the app's other
    threads keep theirs); a thread started meanwhile may inherit `n` for its first op, which
    changes its speed, never its results.
    """
    if n is None:
        yield
        return
    before = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def threads_for(model: LoadedModel) -> int | None:
    """1 for a small model on the CPU, the process's setting for a big one, None (unchanged) on a GPU."""
    if model.device.type != "cpu":
        return None
    parameters = sum(p.numel() for p in model.network.parameters())
    return 1 if parameters < SMALL_MODEL_PARAMETERS else _process_threads


def model_threads(model: LoadedModel) -> contextlib.AbstractContextManager:
    """`with model_threads(model): ...` runs the block's torch ops with `threads_for(model)` threads."""
    return cpu_threads(threads_for(model))
