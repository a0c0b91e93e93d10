"""Fine-tuning engine: datasets, the loop, the run manager, checkpoints and metrics.

    from vitdemo.train import FineTuneConfig, RunManager
    manager = RunManager("runs")
    run_id = manager.submit(FineTuneConfig(model="demo-vit", data="shapes", mode="head", epochs=20))
    manager.wait(run_id)
    vitdemo.load_model(f"runs/{run_id}")   # the best checkpoint

No Streamlit below this line: the app page polls run directories written here.
"""

from vitdemo.train.config import ConfigError, FineTuneConfig, parse_mode
from vitdemo.train.data import DatasetPreview, TrainingData, prepare_training_data, preview_dataset, save_upload
from vitdemo.train.engine import DistContext, TrainCallbacks, run_finetune
from vitdemo.train.manager import RunManager
from vitdemo.train.metrics import classification_report
from vitdemo.train.run_dir import RunDir, default_runs_root, list_runs, trained_models

__all__ = [
    "ConfigError",
    "DatasetPreview",
    "DistContext",
    "FineTuneConfig",
    "RunDir",
    "RunManager",
    "TrainCallbacks",
    "TrainingData",
    "classification_report",
    "default_runs_root",
    "list_runs",
    "parse_mode",
    "prepare_training_data",
    "preview_dataset",
    "run_finetune",
    "save_upload",
    "trained_models",
]
