"""The fine-tuning loop: one run from model and data to checkpoints and metrics, in the calling thread.

    results = run_finetune(FineTuneConfig(model="demo-vit", data="shapes"), RunDir.create("runs", "demo"))

No Streamlit here: the run manager's worker process (`vitdemo.train.worker`) and the CLI call this
from their main thread (under torchrun too). Progress goes to the run directory (status.json,
metrics.jsonl) and to optional callbacks. A stop request (anything with `is_set()`: a
threading.Event, or a `StopSignal` that also watches the run's stop file) is checked between
optimizer steps and between data/feature batches; a stopped run saves its current weights as the
last checkpoint.
"""

from __future__ import annotations

import contextlib
import copy
import time
import traceback
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from vitdemo.errors import VitdemoError
from vitdemo.models.loaded import LoadedModel
from vitdemo.train.augment import model_input
from vitdemo.train.checkpoints import (
    BestK,
    CheckpointCard,
    average_states,
    save_checkpoint,
    state_snapshot,
    weights_checksum,
)
from vitdemo.train.config import FineTuneConfig, parse_mode
from vitdemo.train.data import PreparationStopped, TrainingData, prepare_training_data
from vitdemo.train.metrics import classification_report
from vitdemo.train.network import (
    architecture_of,
    check_rebuildable,
    freeze_for_mode,
    fresh_head,
    pooled_features,
    private_copy,
    set_train_mode,
    trained_state_keys,
)
from vitdemo.train.optim import build_optimizer, lr_at, set_lr
from vitdemo.train.run_dir import RunDir, register_owner, unregister_owner

_HEARTBEAT_S = 1.0  # status.json is rewritten at most this often during a phase


class RunStopped(Exception):
    """Raised inside the loop when a stop was requested; handled by `run_finetune`."""


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


class TrainCallbacks:
    """Progress hooks for displays (the CLI's tqdm bars); the defaults do nothing."""

    def on_phase(self, phase: str, done: int, total: int) -> None:
        """A preparation phase advanced (decoding images, caching features, evaluating)."""

    def on_step(self, record: dict, total_steps: int) -> None:
        """One optimizer step finished; `record` is the metrics line written for it."""

    def on_epoch(self, record: dict) -> None:
        """One epoch finished and was evaluated."""


def default_device() -> str:
    return "cuda" if torch.cuda.is_available() else "cpu"


def _autocast(device: torch.device) -> contextlib.AbstractContextManager:
    """bf16 autocast on GPUs that support it; plain fp32 elsewhere (CPU autocast is slower here)."""
    if device.type == "cuda" and torch.cuda.is_bf16_supported():
        return torch.autocast("cuda", dtype=torch.bfloat16)
    return contextlib.nullcontext()


@contextlib.contextmanager
def _cpu_threads(n: int | None):
    """Run a block with `n` intra-op CPU threads (None: unchanged), restoring the count after.

    Head-mode steps are tiny matrix products: waking a second OpenMP thread costs more than it
    saves, and on a busy machine far more (measured: 0.6 ms/step on 1 thread, 9-60 ms on 2).
    With PyTorch's OpenMP backend the setting is per calling thread, so the app's other threads
    keep theirs.
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


def _shard(indices: torch.Tensor, dist: DistContext) -> torch.Tensor:
    """This rank's share of `indices`, padded by wrap-around so every rank takes the same steps."""
    if dist.world_size == 1:
        return indices
    per_rank = -(-len(indices) // dist.world_size)
    padded = torch.cat([indices, indices[: per_rank * dist.world_size - len(indices)]])
    return padded[dist.rank :: dist.world_size]


def _batches(order: torch.Tensor, batch_size: int) -> Iterator[torch.Tensor]:
    for start in range(0, len(order), batch_size):
        yield order[start : start + batch_size]


def _label_map(dataset_classes: list[str], model_labels: list[str]) -> list[int] | None:
    """Index of each dataset class among the model's own labels, or None if any is missing."""
    lookup: dict[str, int] = {}
    for i, label in enumerate(model_labels):
        for name in (label.lower(), label.lower().split(",")[0].strip()):
            lookup.setdefault(name, i)
    mapped = [lookup.get(c.lower().replace("_", " "), lookup.get(c.lower())) for c in dataset_classes]
    return None if any(m is None for m in mapped) else mapped


class _Run:
    """State of one run while it executes (see `run_finetune`)."""

    def __init__(
        self,
        config: FineTuneConfig,
        run: RunDir | None,
        model: LoadedModel | None,
        stop_event,
        callbacks: TrainCallbacks,
        dist: DistContext,
        cache_root: Path,
        data: TrainingData | None = None,
    ) -> None:
        self.config = config.validate()
        self.given_data = data
        self.run = run if dist.is_main else None  # only rank 0 writes the run directory
        self.model = model
        self.stop_event = stop_event
        self.callbacks = callbacks
        self.dist = dist
        self.cache_root = cache_root
        self.kind, self.last_n = parse_mode(config.mode)
        self.device = torch.device(config.device or default_device())
        self._last_beat = 0.0
        self.started = time.time()

    # -- bookkeeping ----------------------------------------------------------------------------
    def stop_requested(self) -> bool:
        return self.stop_event is not None and self.stop_event.is_set()

    def status(self, force: bool = False, **fields) -> None:
        now = time.time()
        if self.run is None or (not force and now - self._last_beat < _HEARTBEAT_S):
            return
        self._last_beat = now
        self.run.update_status(**fields)

    def phase(self, name: str, done: int, total: int) -> None:
        if self.stop_requested():
            raise RunStopped
        self.callbacks.on_phase(name, done, total)
        self.status(force=done in (0, total), phase=name, done=done, total=total)

    def log(self, record: dict) -> None:
        if self.run is not None:
            self.run.append_metrics(record)

    # -- set-up ---------------------------------------------------------------------------------
    def load(self) -> None:
        """Model copy, data, fresh head, mode: everything before the first step."""
        self.status(force=True, state="preparing", phase="loading model", started_at=self.started)
        if self.model is None:
            from vitdemo.models import load_model

            self.model = load_model(self.config.model, device="cpu")  # the private copy moves itself
        network = private_copy(self.model)
        self.original_head = copy.deepcopy(network.get_classifier())
        try:
            self.data: TrainingData = self.given_data or prepare_training_data(
                self.config,
                self.model.preprocessing,
                self.cache_root,
                on_progress=lambda done, total: self.phase("preparing data", done, total),
                should_stop=self.stop_requested,
            )
        except PreparationStopped:
            raise RunStopped from None
        classes = self.data.classes
        generator = torch.Generator().manual_seed(self.config.seed)
        fresh_head(network, len(classes), generator)
        timm_name, kwargs = architecture_of(self.model, network)
        check_rebuildable(timm_name, kwargs, classes, network)
        self.card = CheckpointCard(
            timm_name=timm_name,
            model_kwargs=kwargs,
            labels=classes,
            preprocessing=self.model.preprocessing.to_dict(),
            family=self.model.family,
            base_model=self.model.spec,
            run_id=self.run.run_id if self.run else "",
        )
        self.trainable = freeze_for_mode(network, self.kind, self.last_n)
        self.network = network.to(self.device)
        if self.device.type == "cuda":
            self.network = self.network.to(memory_format=torch.channels_last)
        self.state_keys = trained_state_keys(self.network)
        if self.run is not None:
            config = self.config.to_dict() | {"data_summary": self.data.summary(), "device": str(self.device)}
            config["trainable_parameters"] = sum(p.numel() for p in self.trainable)
            config["world_size"] = self.dist.world_size
            self.run.write_config(config)

    @torch.inference_mode()
    def features(self, images: torch.Tensor, phase: str, augment_seed: int | None = None) -> torch.Tensor:
        """Pooled features (N, D) of uint8 views through the (frozen) backbone, in eval mode."""
        self.network.eval()
        generator = torch.Generator().manual_seed(augment_seed) if augment_seed is not None else None
        out = []
        batch = max(1, self.config.batch_size * 2)
        self.phase(phase, 0, len(images))
        for start in range(0, len(images), batch):
            x = model_input(
                images[start : start + batch],
                self.model.preprocessing,
                augment=generator is not None,
                generator=generator,
            ).to(self.device)
            with _autocast(self.device):
                out.append(pooled_features(self.network, self._layout(x)).float())
            self.phase(phase, min(start + batch, len(images)), len(images))
        return torch.cat(out)

    def _layout(self, x: torch.Tensor) -> torch.Tensor:
        return x.to(memory_format=torch.channels_last) if self.device.type == "cuda" else x

    def before_report(self, val_features: torch.Tensor) -> tuple[dict, str]:
        """The model before fine-tuning: its own head if it knows the classes, else the fresh head."""
        mapping = _label_map(self.data.classes, self.model.labels)
        with torch.inference_mode():
            if mapping is not None:
                head = self.original_head.to(self.device).eval()
                logits = head(val_features)[:, mapping]
                kind = "the model's own head, before fine-tuning"
            else:
                logits = self.network.get_classifier().eval()(val_features)
                kind = "a fresh, untrained head: chance level"
        return self._report(logits), kind

    def _report(self, logits: torch.Tensor) -> dict:
        labels = self.data.val_labels.to(logits.device)
        loss = F.cross_entropy(logits.float(), labels).item()
        probabilities = logits.float().softmax(-1).cpu()
        return classification_report(self.data.val_labels, probabilities, self.data.classes, loss)


class _HeadTrainer:
    """Head mode: a linear classifier on cached backbone features; epochs take milliseconds."""

    def __init__(self, run: _Run, val_features: torch.Tensor) -> None:
        self.run = run
        config = run.config
        views = config.head_views if config.augment else 1
        order = _shard(
            torch.randperm(len(run.data.train_labels), generator=torch.Generator().manual_seed(config.seed)),
            run.dist,
        )
        images = run.data.train_images[order]
        cached = [run.features(images, "caching features")]
        for v in range(1, views):  # augmented copies, cached too: augmentation stays free per epoch
            cached.append(
                run.features(images, f"caching augmented view {v}", augment_seed=config.seed * 1000 + v)
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
        for idx in _batches(order, self.run.config.batch_size):
            yield self.train_features[view[idx], idx], self.train_labels[idx]

    @torch.inference_mode()
    def val_logits(self) -> torch.Tensor:
        return self.module.eval()(self.val_features)


class _NetworkTrainer:
    """last-N and full modes: forward and backward through the network on (augmented) images."""

    def __init__(self, run: _Run) -> None:
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
        order = _shard(torch.randperm(len(run.data.train_labels), generator=generator), run.dist)
        augment_generator = torch.Generator().manual_seed(
            config.seed * 1_000_003 + epoch * 31 + run.dist.rank
        )
        for idx in _batches(order, config.batch_size):
            x = model_input(
                run.data.train_images[idx],
                run.model.preprocessing,
                augment=config.augment,
                generator=augment_generator,
            )
            yield run._layout(x.to(run.device, non_blocking=True)), run.data.train_labels[idx].to(run.device)

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
            with _autocast(run.device):
                out.append(run.network(run._layout(x)).float())
        return torch.cat(out)


def _wrap_ddp(module: nn.Module, dist: DistContext, device: torch.device) -> nn.Module:
    if dist.world_size == 1:
        return module
    from torch.nn.parallel import DistributedDataParallel

    device_ids = [device.index or 0] if device.type == "cuda" else None
    return DistributedDataParallel(module, device_ids=device_ids)


def _sync_buffers(module: nn.Module, dist: DistContext) -> None:
    """Copy rank 0's buffers (BatchNorm statistics) to every rank, so all evaluate the same model."""
    if dist.world_size == 1:
        return
    for buffer in module.buffers():
        torch.distributed.broadcast(buffer, src=0)


class _Loop:
    """Epochs, steps, evaluation and checkpoints, shared by both trainers."""

    def __init__(self, run: _Run, trainer: _HeadTrainer | _NetworkTrainer) -> None:
        self.run, self.trainer = run, trainer
        config = run.config
        self.optimizer = build_optimizer(run.trainable, config, run.device)
        self.forward = _wrap_ddp(trainer.module, run.dist, run.device)
        self.total_steps = config.epochs * trainer.steps_per_epoch
        self.step = 0
        self.best: dict | None = None  # {"epoch", "report"}
        self.best_k = BestK(config.soup_k if config.soup_k >= 2 else 0)
        self.epochs_done = 0
        self.stopped = False
        self.train_seconds = 0.0
        self.epoch_seconds: list[float] = []

    def train(self) -> None:
        run = self.run
        run.status(force=True, state="running", phase="training", step=0, total_steps=self.total_steps)
        tiny_steps = isinstance(self.trainer, _HeadTrainer) and run.device.type == "cpu"
        with _cpu_threads(1 if tiny_steps else None):
            for epoch in range(1, run.config.epochs + 1):
                started = time.perf_counter()
                train_loss = self._train_epoch(epoch)
                if train_loss is None:
                    self.stopped = True
                    break
                _sync_buffers(self.trainer.module, run.dist)
                self.epoch_seconds.append(time.perf_counter() - started)
                self._end_epoch(epoch, train_loss)
        if self.stopped:
            self._save_on_stop()

    def _train_epoch(self, epoch: int) -> float | None:
        """One epoch of steps; the mean training loss, or None if a stop arrived."""
        run, config = self.run, self.run.config
        self.trainer.train_mode()
        losses = []
        for x, y in self.trainer.epoch_batches(epoch):
            if run.stop_requested():
                return None
            step_started = time.perf_counter()
            lr = lr_at(self.step, self.total_steps, self.trainer.steps_per_epoch, config)
            set_lr(self.optimizer, lr)
            with _autocast(run.device):
                logits = self.forward(x)
            loss = F.cross_entropy(logits.float(), y, label_smoothing=config.label_smoothing)
            self.optimizer.zero_grad(set_to_none=True)
            loss.backward()
            self.optimizer.step()
            self.step += 1
            losses.append(loss.item())
            self.train_seconds += time.perf_counter() - step_started
            self._after_step(epoch, losses[-1], lr)
        return sum(losses) / max(1, len(losses))

    def _after_step(self, epoch: int, loss: float, lr: float) -> None:
        run = self.run
        record = {"kind": "step", "epoch": epoch, "step": self.step, "loss": loss, "lr": lr,
                  "t": round(time.time() - run.started, 3)}  # fmt: skip
        run.log(record)
        run.callbacks.on_step(record, self.total_steps)
        eta = self.train_seconds / self.step * (self.total_steps - self.step)
        run.status(state="running", phase="training", epoch=epoch, step=self.step, eta_seconds=round(eta, 1))

    def _end_epoch(self, epoch: int, train_loss: float) -> None:
        run = self.run
        report = run._report(self.trainer.val_logits())
        is_best = self.best is None or (report["accuracy"], -report["loss"]) > (
            self.best["report"]["accuracy"],
            -self.best["report"]["loss"],
        )
        record = {
            "kind": "epoch",
            "epoch": epoch,
            "train_loss": train_loss,
            "val_loss": report["loss"],
            "val_accuracy": report["accuracy"],
            "val_macro_f1": report["macro_f1"],
            "lr": self.optimizer.param_groups[0]["lr"],
            "seconds": round(self.epoch_seconds[-1], 4),
            "best": is_best,
        }
        training = {"epoch": epoch, "val_accuracy": report["accuracy"], "val_loss": report["loss"]}
        if run.run is not None:
            if is_best:
                save_checkpoint(run.run.best_dir, run.network, run.card.card(**training))
            save_checkpoint(run.run.last_dir, run.network, run.card.card(**training))
        if is_best:
            self.best = {"epoch": epoch, "report": report}
        self.best_k.offer(
            report["accuracy"], report["loss"], epoch, lambda: state_snapshot(run.network, run.state_keys)
        )
        self.epochs_done = epoch
        run.log(record)
        run.callbacks.on_epoch(record)
        run.status(
            force=True,
            epoch=epoch,
            step=self.step,
            best_epoch=self.best["epoch"],
            best_val_accuracy=self.best["report"]["accuracy"],
        )

    def _save_on_stop(self) -> None:
        """Keep the current weights as the last checkpoint; and as best if no epoch finished."""
        run = self.run
        if run.run is None:
            return
        training = {"epoch": None, "stopped_at_step": self.step, "val_accuracy": None}
        save_checkpoint(run.run.last_dir, run.network, run.card.card(**training))
        if self.best is None:
            save_checkpoint(run.run.best_dir, run.network, run.card.card(**training))

    def soup(self) -> dict | None:
        """Average the best K epochs' weights, evaluate, save as soup/; restores the best weights after."""
        run = self.run
        if len(self.best_k.entries) < 2:
            return None
        current = state_snapshot(run.network, run.state_keys)
        run.network.load_state_dict(average_states(self.best_k.states()), strict=False)
        report = run._report(self.trainer.val_logits())
        if run.run is not None:
            save_checkpoint(
                run.run.soup_dir,
                run.network,
                run.card.card(epoch=None, soup_of_epochs=self.best_k.epochs, val_accuracy=report["accuracy"]),
            )
        run.network.load_state_dict(current, strict=False)
        return {
            "epochs": self.best_k.epochs,
            "report": report,
            "best_single_accuracy": self.best["report"]["accuracy"],
            "accuracy_gain": report["accuracy"] - self.best["report"]["accuracy"],
        }


def _ddp_check(run: _Run) -> dict | None:
    """Weights checksum of every rank (they must be identical after DDP training)."""
    if run.dist.world_size == 1:
        return None
    checksums: list[str | None] = [None] * run.dist.world_size
    torch.distributed.all_gather_object(checksums, weights_checksum(run.network))
    return {"world_size": run.dist.world_size, "checksums": checksums, "identical": len(set(checksums)) == 1}


def _results(run: _Run, loop: _Loop | None, before: dict | None, before_kind: str, soup: dict | None) -> dict:
    best = loop.best if loop else None
    return {
        "state": "stopped" if (loop is None or loop.stopped) else "finished",
        "epochs_completed": loop.epochs_done if loop else 0,
        "best_epoch": best["epoch"] if best else None,
        "chance_accuracy": 1 / len(run.data.classes),
        "before": before,
        "before_kind": before_kind,
        "after": best["report"] if best else None,
        "soup": soup,
        "data": run.data.summary(),
        "timings": {
            "total_seconds": round(time.time() - run.started, 2),
            "train_step_seconds": round(loop.train_seconds, 3) if loop else 0.0,
            "epoch_seconds": [round(s, 4) for s in loop.epoch_seconds] if loop else [],
        },
        "device": str(run.device),
        "world_size": run.dist.world_size,
    }


def _execute(run: _Run) -> dict:
    run.load()
    val_features = run.features(run.data.val_images, "evaluating before training")
    before, before_kind = run.before_report(val_features)
    trainer = _HeadTrainer(run, val_features) if run.kind == "head" else _NetworkTrainer(run)
    loop = _Loop(run, trainer)
    loop.train()
    ddp = _ddp_check(run)
    if not loop.stopped and run.config.soup_k >= 2:
        run.status(force=True, phase="averaging checkpoints")
    soup = loop.soup() if not loop.stopped and run.config.soup_k >= 2 else None
    results = _results(run, loop, before, before_kind, soup)
    if ddp:
        results["ddp"] = ddp
    return results


def run_finetune(
    config: FineTuneConfig,
    run: RunDir | None,
    *,
    model: LoadedModel | None = None,
    stop_event=None,
    callbacks: TrainCallbacks | None = None,
    dist: DistContext | None = None,
    cache_root: str | Path | None = None,
    data: TrainingData | None = None,
) -> dict:
    """Run one fine-tuning job to the end (or to a stop) and return its results.

    Args:
        config: what to train (validated here).
        run: the run directory to write; None writes nothing (non-zero torchrun ranks do that).
        model: an already loaded model to copy from (the app's shared one); None loads
            `config.model` with `vitdemo.load_model`. It is never modified.
        stop_event: a threading.Event or `run_dir.StopSignal`; once set, the run stops after the current step.
        callbacks: progress hooks (tqdm in the CLI).
        dist: rank and world size under torchrun; default: read from torch.distributed.
        cache_root: where uploaded archives are extracted; default: the run's parent folder.
        data: ready training data (e.g. your own tensors, or a benchmark's) instead of `config.data`;
            its views must be at the model's input size.

    Returns:
        The results dict also written to results.json: before/after reports, soup, data, timings.

    Raises:
        VitdemoError: a problem a person can fix (data, model, settings); the run is marked failed.
    """
    dist = dist or DistContext.current()
    root = Path(cache_root) if cache_root else (run.path.parent if run else Path("runs"))
    state = _Run(config, run, model, stop_event, callbacks or TrainCallbacks(), dist, root, data)
    owner = uuid.uuid4().hex  # while this call runs, readers elsewhere see the run as alive
    register_owner(owner)
    try:
        if state.run is not None:
            state.run.claim(owner)
        return _execute_and_record(state)
    finally:
        # Only after the final state is on disk: a reader must never see "running" without an owner.
        unregister_owner(owner)


def _execute_and_record(state: _Run) -> dict:
    try:
        results = _execute(state)
    except RunStopped:
        results = {"state": "stopped", "message": "Stopped before training started: no checkpoint was saved."}
        state.status(force=True, state="stopped", phase="stopped", message=results["message"])
        return results
    except VitdemoError as err:
        _record_failure(state, str(err))
        raise
    except Exception as err:
        _record_failure(state, f"Internal error ({type(err).__name__}: {err}).", traceback.format_exc())
        raise
    if state.run is not None:
        state.run.write_results(results)
        state.log({"kind": "final", **{k: results[k] for k in ("state", "best_epoch", "epochs_completed")}})
        stopped = results["state"] == "stopped"
        state.status(
            force=True,
            state=results["state"],
            phase="done",
            finished_at=time.time(),
            message="Stopped: the last checkpoint holds the weights at the stop." if stopped else "",
            eta_seconds=0,
        )
    return results


def _record_failure(run: _Run, message: str, details: str | None = None) -> None:
    if run.run is None:
        return
    if details:
        (run.run.path / "error.log").write_text(details)
    run.status(force=True, state="failed", phase="failed", message=message, finished_at=time.time())
