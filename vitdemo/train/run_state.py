"""One fine-tuning run while it executes: its settings, model copy, data, status and reports.

`RunState` is what the trainers and the loop share: they read its network, data and device and
report through its `status`, `phase` and `log`; only rank 0 writes the run directory.
"""

from __future__ import annotations

import copy
import time
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from vitdemo.models.loaded import LoadedModel
from vitdemo.train.checkpoints import CheckpointCard
from vitdemo.train.config import FineTuneConfig, parse_mode
from vitdemo.train.data import PreparationStopped, TrainingData, prepare_training_data
from vitdemo.train.device import channels_last, resolve_device
from vitdemo.train.distributed import DistContext
from vitdemo.train.metrics import classification_report
from vitdemo.train.network import (
    architecture_of,
    check_rebuildable,
    freeze_for_mode,
    fresh_head,
    private_copy,
    trained_state_keys,
)
from vitdemo.train.run_dir import RunDir

_HEARTBEAT_S = 1.0  # status.json is rewritten at most this often during a phase


class RunStopped(Exception):
    """Raised inside the run when a stop was requested; handled by `run_finetune`."""


class TrainCallbacks:
    """Progress hooks for displays (the CLI's tqdm bars); the defaults do nothing."""

    def on_phase(self, phase: str, done: int, total: int) -> None:
        """A preparation phase advanced (decoding images, caching features, evaluating)."""

    def on_step(self, record: dict, total_steps: int) -> None:
        """One optimizer step finished; `record` is the metrics line written for it."""

    def on_epoch(self, record: dict) -> None:
        """One epoch finished and was evaluated."""


def label_map(dataset_classes: list[str], model_labels: list[str]) -> list[int] | None:
    """Index of each dataset class among the model's own labels, or None if any is missing."""
    lookup: dict[str, int] = {}
    for i, label in enumerate(model_labels):
        for name in (label.lower(), label.lower().split(",")[0].strip()):
            lookup.setdefault(name, i)
    mapped = [lookup.get(c.lower().replace("_", " "), lookup.get(c.lower())) for c in dataset_classes]
    return None if any(m is None for m in mapped) else mapped


class RunState:
    """State of one run while it executes (see `vitdemo.train.engine.run_finetune`)."""

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
        self.run = run if dist.is_main else None  # only rank 0 writes the run directory
        self.model = model  # loaded by `load` when None; never modified
        self.data = data  # prepared by `load` when None
        self.stop_event = stop_event
        self.callbacks = callbacks
        self.dist = dist
        self.cache_root = cache_root
        self.kind, self.last_n = parse_mode(config.mode)
        self.device = resolve_device(config.device)
        self.started = time.time()
        self._last_beat = 0.0
        # Set by `load`, before the first step:
        self.network: nn.Module | None = None  # the private copy being trained, on `device`
        self.original_head: nn.Module | None = None  # the model's own classifier, for the "before" report
        self.card: CheckpointCard | None = None  # what every checkpoint's model card shares
        self.trainable: list[nn.Parameter] = []
        self.state_keys: list[str] = []  # state entries training changes (what a soup averages)

    # -- bookkeeping ----------------------------------------------------------------------------
    def stop_requested(self) -> bool:
        return self.stop_event is not None and self.stop_event.is_set()

    def status(self, force: bool = False, **fields) -> None:
        """Update status.json (rank 0), at most once per heartbeat unless `force`."""
        now = time.time()
        if self.run is None or (not force and now - self._last_beat < _HEARTBEAT_S):
            return
        self._last_beat = now
        self.run.update_status(**fields)

    def phase(self, name: str, done: int, total: int) -> None:
        """A preparation phase advanced; raises RunStopped when a stop was requested."""
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
        if self.data is None:
            self.data = self._prepare_data()
        classes = self.data.classes
        fresh_head(network, len(classes), torch.Generator().manual_seed(self.config.seed))
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
        self._write_config()

    def _prepare_data(self) -> TrainingData:
        try:
            return prepare_training_data(
                self.config,
                self.model.preprocessing,
                self.cache_root,
                on_progress=lambda done, total: self.phase("preparing data", done, total),
                should_stop=self.stop_requested,
            )
        except PreparationStopped:
            raise RunStopped from None

    def _write_config(self) -> None:
        if self.run is None:
            return
        config = self.config.to_dict() | {"data_summary": self.data.summary(), "device": str(self.device)}
        config["trainable_parameters"] = sum(p.numel() for p in self.trainable)
        config["world_size"] = self.dist.world_size
        self.run.write_config(config)

    # -- shared by the trainers -----------------------------------------------------------------
    def layout(self, x: torch.Tensor) -> torch.Tensor:
        """A batch in the memory layout the network runs fastest with on this device."""
        return channels_last(x, self.device)

    def report(self, logits: torch.Tensor) -> dict:
        """The validation report of `logits` (N, K) for the run's validation images."""
        labels = self.data.val_labels.to(logits.device)
        loss = F.cross_entropy(logits.float(), labels).item()
        probabilities = logits.float().softmax(-1).cpu()
        return classification_report(self.data.val_labels, probabilities, self.data.classes, loss)

    def before_report(self, val_features: torch.Tensor) -> tuple[dict, str]:
        """The model before fine-tuning: its own head if it knows the classes, else the fresh head."""
        mapping = label_map(self.data.classes, self.model.labels)
        with torch.inference_mode():
            if mapping is not None:
                head = self.original_head.to(self.device).eval()
                logits = head(val_features)[:, mapping]
                kind = "the model's own head, before fine-tuning"
            else:
                logits = self.network.get_classifier().eval()(val_features)
                kind = "a fresh, untrained head: chance level"
        return self.report(logits), kind
