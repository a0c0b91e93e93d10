"""Fine-tuning speed: our loop vs the seeds' HF Trainer, and head mode vs full mode, in one run.

    python benchmarks/finetune_speed.py [--batch 32] [--steps 12] [--head-epochs 5]

Same synthetic data and model shape on both sides (ViT-Ti/16 at 224 px, random init, 3 classes,
batch 32, `steps` batches of random images). Measured:
  * full mode: training samples/s in steady state (the first two steps excluded, as the baseline
    `../shared/baselines/hf_trainer_finetune.py` does), through `run_finetune` itself — metrics
    lines, heartbeat and all;
  * head mode: seconds per epoch on the cached features after the first epoch (train steps only,
    and wall time including validation and both checkpoints), against a full-mode epoch over the
    same images.
Trainer and ours alternate `--repeats` times and the best of each counts: on a shared machine the
best run is the one least disturbed by others.
Prints one JSON line. Targets: full ≥ 1.0× the Trainer on CPU (≥ 1.5× on a GPU); head ≥ 20×
faster per epoch than full after the first epoch.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import timm
import torch

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from vitdemo.models.loaded import LoadedModel, Preprocessing  # noqa: E402
from vitdemo.train import FineTuneConfig, RunDir, TrainCallbacks, TrainingData, run_finetune  # noqa: E402

BASELINE = REPO.parent / "shared" / "baselines" / "hf_trainer_finetune.py"
CLASSES = 3


class _Clock(TrainCallbacks):
    """Timestamps of every step and epoch, and when feature caching ended."""

    def __init__(self) -> None:
        self.steps: list[float] = []
        self.epochs: list[float] = []
        self.cache_started: float | None = None

    def on_phase(self, phase: str, done: int, total: int) -> None:
        if phase == "caching features" and self.cache_started is None:
            self.cache_started = time.perf_counter()

    def on_step(self, record: dict, total_steps: int) -> None:
        if torch.cuda.is_available():
            torch.cuda.synchronize()
        self.steps.append(time.perf_counter())

    def on_epoch(self, record: dict) -> None:
        self.epochs.append(time.perf_counter())


def _model() -> LoadedModel:
    torch.manual_seed(0)
    network = timm.create_model("vit_tiny_patch16_224", pretrained=False, num_classes=CLASSES)
    return LoadedModel(
        spec="timm:vit_tiny_patch16_224@random",
        network=network.eval(),
        preprocessing=Preprocessing(
            input_size=(224, 224), mean=(0.5,) * 3, std=(0.5,) * 3, crop_mode="squash"
        ),
        labels=[f"class {i}" for i in range(CLASSES)],
        family="vit",
        backend="timm",
        geometry=None,
        source="random init",
        card={"timm_name": "vit_tiny_patch16_224", "model_kwargs": {}},
    )


def _data(n_train: int, n_val: int) -> TrainingData:
    g = torch.Generator().manual_seed(0)
    images = torch.randint(0, 256, (n_train + n_val, 3, 224, 224), dtype=torch.uint8, generator=g)
    labels = torch.arange(n_train + n_val) % CLASSES
    return TrainingData(
        classes=[f"class {i}" for i in range(CLASSES)],
        train_images=images[:n_train],
        train_labels=labels[:n_train],
        val_images=images[n_train:],
        val_labels=labels[n_train:],
        source="synthetic",
    )


def run_ours(mode: str, epochs: int, batch: int, data: TrainingData, root: Path) -> tuple[_Clock, dict]:
    config = FineTuneConfig(
        model="bench", data="synthetic", mode=mode, epochs=epochs, batch_size=batch, lr=1e-4
    )
    clock = _Clock()
    results = run_finetune(config, RunDir.create(root, mode), model=_model(), callbacks=clock, data=data)
    return clock, results


def run_baseline(batch: int, steps: int) -> dict:
    out = subprocess.run(
        [sys.executable, str(BASELINE), "--size", "tiny", "--batch", str(batch), "--steps", str(steps),
         "--classes", str(CLASSES)],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    return json.loads(out.stdout.strip().splitlines()[-1])


def _steady_samples_per_sec(clock: _Clock, batch: int) -> float:
    steady = clock.steps[2:]  # as the baseline: the first two steps are warm-up
    return batch * (len(steady) - 1) / (steady[-1] - steady[0])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument(
        "--steps", type=int, default=12, help="full-mode steps: one epoch of batch × steps images"
    )
    ap.add_argument("--head-epochs", type=int, default=5)
    ap.add_argument(
        "--repeats", type=int, default=2, help="alternate Trainer and ours this often; best of each"
    )
    args = ap.parse_args()
    data = _data(args.batch * args.steps, args.batch)

    trainer_sps, ours_sps, full_epoch_s = [], [], []
    with tempfile.TemporaryDirectory() as tmp:
        # Alternating, and keeping the best of each, cancels most of the noise of a shared machine.
        for _ in range(args.repeats):
            trainer_sps.append(run_baseline(args.batch, args.steps)["train_samples_per_sec"])
            clock, full = run_ours("full", 1, args.batch, data, Path(tmp))
            ours_sps.append(_steady_samples_per_sec(clock, args.batch))
            full_epoch_s.append(full["timings"]["epoch_seconds"][0])
        head_clock, head = run_ours("head", args.head_epochs, args.batch, data, Path(tmp))

    head_epochs = head["timings"]["epoch_seconds"][1:]
    head_epoch_s = sum(head_epochs) / len(head_epochs)
    head_wall = [b - a for a, b in zip(head_clock.epochs, head_clock.epochs[1:], strict=False)]
    head_wall_s = sum(head_wall) / len(head_wall)
    full_s = min(full_epoch_s)
    print(
        json.dumps(
            {
                "benchmark": "finetune_speed",
                "model": "vit_tiny_patch16_224 (random init)",
                "batch": args.batch,
                "train_images": args.batch * args.steps,
                "device": full["device"],
                "threads": torch.get_num_threads(),
                "repeats": args.repeats,
                "hf_trainer_samples_per_sec": max(trainer_sps),
                "ours_full_samples_per_sec": round(max(ours_sps), 2),
                "full_vs_trainer": round(max(ours_sps) / max(trainer_sps), 3),
                "all_trainer_samples_per_sec": trainer_sps,
                "all_ours_samples_per_sec": [round(v, 2) for v in ours_sps],
                "full_epoch_s": round(full_s, 3),
                "head_first_epoch_s": round(head_clock.epochs[0] - head_clock.cache_started, 3),
                "head_epoch_s": round(head_epoch_s, 5),
                "head_epoch_wall_s": round(head_wall_s, 4),
                "head_vs_full_per_epoch": round(full_s / head_epoch_s, 1),
                "head_vs_full_per_epoch_wall": round(full_s / head_wall_s, 1),
            }
        )
    )


if __name__ == "__main__":
    main()
