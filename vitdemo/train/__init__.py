"""Fine-tuning engine: datasets, the loop, the run manager, checkpoints and metrics.

    from vitdemo.train import FineTuneConfig, RunManager
    manager = RunManager("runs")
    run_id = manager.submit(FineTuneConfig(model="demo-vit", data="shapes", mode="head", epochs=20))
    manager.wait(run_id)
    vitdemo.load_model(f"runs/{run_id}")   # the best checkpoint

No Streamlit below this line: the app page polls the run directories written here.
Names are imported on first use, so `vitdemo.train.config` (used by the CLI's argument parser)
does not pull in torch.
"""

from importlib import import_module

_EXPORTS = {
    "ConfigError": "config",
    "FineTuneConfig": "config",
    "parse_mode": "config",
    "DatasetPreview": "data",
    "TrainingData": "data",
    "prepare_training_data": "data",
    "preview_dataset": "data",
    "save_upload": "data",
    "DistContext": "distributed",
    "TrainCallbacks": "run_state",
    "run_finetune": "engine",
    "RunManager": "manager",
    "classification_report": "metrics",
    "RunSnapshot": "progress",
    "snapshot": "progress",
    "RunDir": "run_dir",
    "StopSignal": "run_dir",
    "default_runs_root": "run_dir",
    "list_runs": "run_dir",
    "trained_models": "run_dir",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str):
    if name in _EXPORTS:
        return getattr(import_module(f"vitdemo.train.{_EXPORTS[name]}"), name)
    raise AttributeError(f"module 'vitdemo.train' has no attribute {name!r}")
