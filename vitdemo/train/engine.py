"""The fine-tuning engine: one run from model and data to checkpoints and metrics, in the calling thread.

    results = run_finetune(FineTuneConfig(model="demo-vit", data="shapes"), RunDir.create("runs", "demo"))

No Streamlit here: the run manager's worker process (`vitdemo.train.worker`) and the CLI call this
from their main thread (under torchrun too). Progress goes to the run directory (status.json,
metrics.jsonl) and to optional callbacks. A stop request (anything with `is_set()`: a
threading.Event, or a `StopSignal` that also watches the run's stop file) is checked between
optimizer steps and between data/feature batches; a stopped run saves its current weights as the
last checkpoint.

The parts, one concern each: `run_state` (settings, model copy, data, status), `feature_cache`,
`trainers` (head mode vs. network modes), `loop` (epochs, steps, checkpoints), `soup`,
`distributed` (torchrun/DDP), `device`, and `outcome` (results and failure recording).
"""

from __future__ import annotations

import uuid
from pathlib import Path

from vitdemo.models.loaded import LoadedModel
from vitdemo.train.config import FineTuneConfig
from vitdemo.train.data import TrainingData
from vitdemo.train.device import default_device
from vitdemo.train.distributed import DistContext, replica_check
from vitdemo.train.loop import TrainingLoop
from vitdemo.train.outcome import execute_and_record, summarise
from vitdemo.train.run_dir import RunDir, register_owner, unregister_owner
from vitdemo.train.run_state import RunState, TrainCallbacks
from vitdemo.train.trainers import HeadTrainer, NetworkTrainer, run_features

__all__ = ["DistContext", "TrainCallbacks", "default_device", "run_finetune"]


def _execute(run: RunState) -> dict:
    run.load()
    val_features = run_features(run, run.data.val_images, "evaluating before training")
    before, before_kind = run.before_report(val_features)
    trainer = HeadTrainer(run, val_features) if run.kind == "head" else NetworkTrainer(run)
    loop = TrainingLoop(run, trainer)
    loop.train()
    replicas = replica_check(run.network, run.dist)
    soup = None
    if not loop.stopped and run.config.soup_k >= 2:
        run.status(force=True, phase="averaging checkpoints")
        soup = loop.soup()
    results = summarise(run, loop, before, before_kind, soup)
    if replicas:
        results["ddp"] = replicas
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
    state = RunState(config, run, model, stop_event, callbacks or TrainCallbacks(), dist, root, data)
    owner = uuid.uuid4().hex  # while this call runs, readers elsewhere see the run as alive
    register_owner(owner)
    try:
        if state.run is not None:
            state.run.claim(owner)
        return execute_and_record(state, _execute)
    finally:
        # Only after the final state is on disk: a reader must never see "running" without an owner.
        unregister_owner(owner)
