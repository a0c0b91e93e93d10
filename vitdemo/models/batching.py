"""One batched forward pass for many callers: a small per-model request queue.

When a class uploads at once, Streamlit runs every session's script in its own thread, and each
asks the same shared model for the logits of one image. A network runs a batch of 20 images in a
fraction of the time of 20 single passes, so `batched_logits` gathers the requests that arrive
within a few milliseconds of each other and runs them as one batch.

No extra thread: the first waiting caller becomes the leader, sleeps the gather window, takes the
pending requests (same input shape, at most `max_batch` images), runs one forward with inference
mode, hands each caller its own rows, and steps down; a caller that is still waiting then leads
the next batch.

Not under `model.lock`: that lock keeps explain calls from registering hooks on the same modules
at once, and their hooks record only in the thread that registered them (`CallHooks`; the
transformers capture hooks read a per-thread context variable), so a plain forward pass beside a
hooked one computes exactly what it would alone. Answer first: a student's top-3 never waits for
another student's maps (on ViT-B a hooked pass holds the lock for about half a second).

Each request keeps its own tensors, and results are copied out of the batch, so no caller sees
another's rows. If a batch fails, its requests are run one by one, so an error reaches only the
caller whose input caused it.

Written by hand because neither torch nor timm has in-process request batching (TorchServe and
Triton do, as separate servers).
"""

from __future__ import annotations

import threading
import time
import weakref
from dataclasses import dataclass, field

import torch

from vitdemo.models.loaded import LoadedModel

GATHER_WINDOW_S = 0.004  # long enough for threads woken by one upload burst, too short to notice
MAX_BATCH = 32  # images per forward pass: bounds memory; CPU throughput is flat beyond this


@dataclass(eq=False)
class _Request:
    inputs: torch.Tensor  # (n, 3, H, W), normalised
    queued_at: float = field(default_factory=time.perf_counter)
    output: torch.Tensor | None = None
    error: BaseException | None = None
    done: bool = False


@dataclass(frozen=True)
class QueueLoad:
    """What a caller about to wait would see: images ahead and a rough wait in seconds."""

    images_waiting: int  # queued plus being computed
    seconds_per_image: float  # recent average of a batched forward's time per image
    estimated_wait_s: float


class BatchedForward:
    """Gathers concurrent forward requests for one model into batched forward passes.

    Args:
        window_s: how long a leader waits for more requests before running a batch.
        max_batch: most images in one forward pass.
    """

    def __init__(self, *, window_s: float = GATHER_WINDOW_S, max_batch: int = MAX_BATCH) -> None:
        self.window_s = window_s
        self.max_batch = max_batch
        self._cond = threading.Condition()
        self._pending: list[_Request] = []
        self._running = 0  # images in the batch being computed
        self._leading = False
        self._seconds_per_image = 0.0  # exponential moving average
        self.batches_run = 0  # for tests and benchmarks: how many forward passes served the requests

    def logits(self, model: LoadedModel, inputs: torch.Tensor) -> torch.Tensor:
        """Logits of `inputs` (n, 3, H, W), computed in a batch with other callers' images.

        Returns the (n, classes) logits on the CPU, owned by the caller.
        """
        request = _Request(inputs.detach())
        with self._cond:
            self._pending.append(request)
        while True:
            with self._cond:
                while self._leading and not request.done:
                    self._cond.wait()
                if request.done:
                    break
                self._leading = True
            try:
                self._run_next_batch(model)
            finally:
                with self._cond:
                    self._leading = False
                    self._cond.notify_all()
        if request.error is not None:
            raise request.error
        assert request.output is not None
        return request.output

    def load(self) -> QueueLoad:
        """Images waiting or being computed now, and a rough wait for one more request."""
        with self._cond:
            waiting = self._running + sum(r.inputs.size(0) for r in self._pending)
            per_image = self._seconds_per_image
        return QueueLoad(waiting, per_image, waiting * per_image)

    def _run_next_batch(self, model: LoadedModel) -> None:
        with self._cond:
            full = sum(r.inputs.size(0) for r in self._pending) >= self.max_batch
        if not full:
            time.sleep(self.window_s)  # let the other threads of the same burst join
        batch = self._take_batch()
        if not batch:
            return
        start = time.perf_counter()
        try:
            outputs = _forward(model, torch.cat([r.inputs for r in batch]))
            _hand_out(batch, outputs)
        except Exception:  # a batch failed: find out whose input it was, one by one
            for request in batch:
                try:
                    _hand_out([request], _forward(model, request.inputs))
                except Exception as err:
                    request.error = err
        elapsed = time.perf_counter() - start
        with self._cond:
            size = sum(r.inputs.size(0) for r in batch)
            per_image = elapsed / max(size, 1)
            smoothed = 0.7 * self._seconds_per_image + 0.3 * per_image
            self._seconds_per_image = per_image if self.batches_run == 0 else smoothed
            self.batches_run += 1
            self._running = 0
            for request in batch:
                request.done = True
            self._cond.notify_all()

    def _take_batch(self) -> list[_Request]:
        """The oldest requests with the first one's input shape, up to `max_batch` images."""
        with self._cond:
            if not self._pending:
                return []
            shape = self._pending[0].inputs.shape[1:]
            batch, rest, images = [], [], 0
            for request in self._pending:
                fits = request.inputs.shape[1:] == shape and images + request.inputs.size(0) <= self.max_batch
                if fits or not batch:
                    batch.append(request)
                    images += request.inputs.size(0)
                else:
                    rest.append(request)
            self._pending = rest
            self._running = images
            return batch


def _forward(model: LoadedModel, batch: torch.Tensor) -> torch.Tensor:
    with torch.inference_mode():  # no model.lock: see the module's docstring
        return model.logits(batch.to(model.device)).float().cpu()  # (B, classes)


def _hand_out(batch: list[_Request], outputs: torch.Tensor) -> None:
    start = 0
    for request in batch:
        n = request.inputs.size(0)
        request.output = outputs[start : start + n].clone()  # the caller's own rows, own storage
        start += n


# One queue per shared model object. Keyed weakly, and the queue never holds the model, so a model
# evicted from the app's cache is freed with its queue.
_QUEUES: weakref.WeakKeyDictionary[LoadedModel, BatchedForward] = weakref.WeakKeyDictionary()
_QUEUES_LOCK = threading.Lock()


def forward_queue(model: LoadedModel) -> BatchedForward:
    """The request queue of this model object (created on first use)."""
    with _QUEUES_LOCK:
        queue = _QUEUES.get(model)
        if queue is None:
            queue = _QUEUES[model] = BatchedForward()
        return queue


def batched_logits(model: LoadedModel, inputs: torch.Tensor) -> torch.Tensor:
    """`model.logits(inputs)` without gradients, batched with concurrent callers of the same model.

    Args:
        model: a shared loaded model.
        inputs: (n, 3, H, W) normalised images.

    Returns:
        (n, classes) float32 logits on the CPU, equal (within float tolerance) to running the
        images alone.
    """
    return forward_queue(model).logits(model, inputs)
