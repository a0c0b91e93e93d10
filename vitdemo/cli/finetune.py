"""`python -m vitdemo finetune`: a fine-tuning run from the shell, same run directory as the app.

    python -m vitdemo finetune --data shapes --model demo-vit --mode head --epochs 20
    python -m vitdemo finetune --data pets.zip --model timm:vit_small_patch16_224 --mode last-2 --out runs/pets
    torchrun --nproc_per_node=2 -m vitdemo finetune --data pets/ --model resnet --mode full --epochs 5

Under torchrun every process trains on its share of each epoch (DistributedDataParallel; gloo on
CPU, NCCL on GPUs) and rank 0 writes the run directory; `--batch-size` is per process.
Errors go through `vitdemo.cli` (one line on stderr; exit 2 for bad settings, 1 for bad data).
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import threading
from pathlib import Path

from vitdemo.cli.common import UsageError

USAGE_EXAMPLE = "python -m vitdemo finetune --data shapes --model demo-vit --mode head --epochs 20"


def add_arguments(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """Add the finetune options to `parser` (the `finetune` sub-command's parser)."""
    from vitdemo.train.config import DEFAULT_EPOCHS, DEFAULT_LR, OPTIMIZERS, SCHEDULES, FineTuneConfig

    d = FineTuneConfig()
    per_mode = ", ".join(f"{k} {v}" for k, v in DEFAULT_EPOCHS.items())
    lrs = ", ".join(f"{v:g} {k}" for k, v in DEFAULT_LR.items())
    add = parser.add_argument
    add(
        "--data",
        required=True,
        help="'shapes', an image folder (one sub-folder per class), or a .zip/.tar.gz of one",
    )
    add("--model", default=d.model, help=f"model spec to start from (default {d.model})")
    add("--mode", default=d.mode, help="head (frozen backbone), last-N (e.g. last-2) or full (default head)")
    add("--epochs", type=int, default=None, help=f"default by mode: {per_mode}")
    add("--batch-size", type=int, default=d.batch_size, help="per process under torchrun")
    add("--lr", type=float, default=None, help=f"learning rate (default: {lrs})")
    add("--optimizer", choices=OPTIMIZERS, default=d.optimizer)
    add("--momentum", type=float, default=d.momentum, help="SGD momentum")
    add("--weight-decay", type=float, default=d.weight_decay)
    add("--schedule", choices=SCHEDULES, default=d.schedule)
    add("--warmup", type=float, default=d.warmup_fraction, help="share of steps warming up (cosine)")
    add(
        "--augment",
        action=argparse.BooleanOptionalAction,
        default=d.augment,
        help="random crops, flips, jitter",
    )
    add("--val-fraction", type=float, default=d.val_fraction)
    add("--seed", type=int, default=d.seed)
    add(
        "--soup",
        type=int,
        default=d.soup_k,
        metavar="K",
        help="average the best K epochs at the end (0 = off)",
    )
    add("--label-smoothing", type=float, default=d.label_smoothing)
    add("--shapes-classes", default=None, help="comma-separated Shapes classes (default: all six)")
    add("--shapes-per-class", type=int, default=d.shapes_per_class)
    add(
        "--device",
        default=None,
        help="cpu, cuda, cuda:1 (default: GPU if present); torchrun sets one per process",
    )
    add("--out", default=None, help="the run directory to create (default: a new folder under ./runs)")
    add("--no-progress", action="store_true", help="no progress bars (logs, CI)")
    return parser


def _config_from_args(args: argparse.Namespace, device: str | None):
    """The run's FineTuneConfig; a bad setting or a missing data path is a UsageError (no torch yet)."""
    from vitdemo.train.config import ConfigError, FineTuneConfig

    if args.data != "shapes" and not Path(args.data).expanduser().exists():
        raise UsageError(
            f"{args.data} does not exist: give an image folder, a .zip/.tar.gz archive, or 'shapes'."
        )
    classes = (
        [c.strip() for c in args.shapes_classes.split(",") if c.strip()] if args.shapes_classes else None
    )
    config = FineTuneConfig(
        model=args.model,
        data=args.data,
        shapes_classes=classes,
        shapes_per_class=args.shapes_per_class,
        mode=args.mode,
        epochs=args.epochs,
        batch_size=args.batch_size,
        lr=args.lr,
        optimizer=args.optimizer,
        momentum=args.momentum,
        weight_decay=args.weight_decay,
        schedule=args.schedule,
        warmup_fraction=args.warmup,
        augment=args.augment,
        val_fraction=args.val_fraction,
        seed=args.seed,
        soup_k=args.soup,
        label_smoothing=args.label_smoothing,
        device=device,
    )
    out = Path(args.out) if args.out else None
    # Checked by every torchrun process before they meet, so none waits for one that gave up.
    if out is not None and out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise UsageError(f"{out} already exists and is not an empty folder: choose another --out.")
    try:
        return config.validate()
    except ConfigError as err:
        raise UsageError(str(err)) from None


class _ProgressBars:
    """tqdm bars for the preparation phases and the optimizer steps (a TrainCallbacks; rank 0 only)."""

    def __init__(self) -> None:
        from tqdm.auto import tqdm

        self._tqdm = tqdm
        self.phase_bar = None
        self.phase_name = None
        self.step_bar = None

    def on_phase(self, phase: str, done: int, total: int) -> None:
        if phase != self.phase_name:
            if self.phase_bar is not None:
                self.phase_bar.close()
            self.phase_name = phase
            self.phase_bar = self._tqdm(total=total, desc=phase, unit="img", leave=False)
        self.phase_bar.n = done
        self.phase_bar.refresh()

    def on_step(self, record: dict, total_steps: int) -> None:
        if self.step_bar is None:
            if self.phase_bar is not None:
                self.phase_bar.close()
            self.step_bar = self._tqdm(total=total_steps, desc="training", unit="step")
        self.step_bar.update(1)
        self.step_bar.set_postfix(epoch=record["epoch"], loss=f"{record['loss']:.4f}")

    def on_epoch(self, record: dict) -> None:
        line = (
            f"epoch {record['epoch']}: train loss {record['train_loss']:.4f}, "
            f"val loss {record['val_loss']:.4f}, val acc {record['val_accuracy']:.1%}"
            + (" (best)" if record["best"] else "")
        )
        (self.step_bar.write if self.step_bar is not None else print)(line)

    def close(self) -> None:
        for bar in (self.phase_bar, self.step_bar):
            if bar is not None:
                bar.close()


def _init_distributed() -> tuple[object, str | None]:
    """Join the torchrun process group when launched by torchrun; returns (DistContext, device)."""
    import torch

    from vitdemo.train.distributed import DistContext

    if int(os.environ.get("WORLD_SIZE", "1")) <= 1:
        return DistContext(), None
    use_cuda = torch.cuda.is_available()
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    if use_cuda:
        torch.cuda.set_device(local_rank)
    torch.distributed.init_process_group(backend="nccl" if use_cuda else "gloo")
    return DistContext.current(), (f"cuda:{local_rank}" if use_cuda else "cpu")


def _make_run_dir(out: str | None, config, dist):
    """Rank 0 creates the run directory; under torchrun the others learn its path but write nothing."""
    import torch

    from vitdemo.train.run_dir import RunDir, default_runs_root

    path = None
    if dist.is_main:
        if out:
            target = Path(out)
            target.mkdir(parents=True, exist_ok=True)
            run = RunDir(target)
        else:
            run = RunDir.create(default_runs_root(), f"{Path(config.model.rstrip('/')).name}-{config.mode}")
        path = str(run.path)
    if dist.world_size > 1:
        box = [path]
        torch.distributed.broadcast_object_list(box, src=0)
        path = box[0]
    return RunDir(path) if dist.is_main else None, Path(path)


def _summary(results: dict, run_path: Path) -> str:
    after, before = results.get("after"), results.get("before")
    lines = [f"Run directory: {run_path}  ({results['state']}, {results.get('epochs_completed', 0)} epochs)"]
    if before and after:
        lines.append(
            f"Validation accuracy: {before['accuracy']:.1%} before ({results['before_kind']}) → "
            f"{after['accuracy']:.1%} after (best epoch {results['best_epoch']}); "
            f"macro F1 {after['macro_f1']:.3f}"
            + (f", ROC-AUC {after['roc_auc']:.3f}" if after.get("roc_auc") is not None else "")
        )
    soup = results.get("soup")
    if soup:
        lines.append(
            f"Soup of epochs {soup['epochs']}: {soup['report']['accuracy']:.1%} "
            f"vs best single {soup['best_single_accuracy']:.1%} (saved in {run_path / 'soup'})"
        )
    if results.get("ddp"):
        ddp = results["ddp"]
        same = "identical" if ddp["identical"] else "DIFFERENT"
        lines.append(f"DDP: {ddp['world_size']} processes, final weights {same} on all ranks")
    if results.get("after") or results["state"] == "stopped":
        lines.append(f"Explain it: vitdemo.load_model({str(run_path)!r}) or pick it on the app's pages")
    return "\n".join(lines)


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add `finetune` to the `python -m vitdemo` command line."""
    parser = subparsers.add_parser(
        "finetune",
        help="fine-tune a model on Shapes, an image folder or an archive",
        description="Fine-tune a model; writes a run directory that load_model and the app can use.",
        epilog=f"Example: {USAGE_EXAMPLE}. Under torchrun: torchrun --nproc_per_node=2 -m vitdemo finetune ...",
    )
    add_arguments(parser)
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Execute the finetune command; errors propagate to `vitdemo.cli` as one line."""
    config = _config_from_args(args, args.device)  # before importing torch: bad settings fail fast
    from vitdemo.train.engine import run_finetune
    from vitdemo.train.run_dir import StopSignal

    try:
        dist, device = _init_distributed()
        config.device = device or config.device
        run_dir, run_path = _make_run_dir(args.out, config, dist)
        stop = threading.Event()
        if dist.world_size == 1:  # Ctrl-C, or the app's Stop (the stop file), ends after the current step
            stop = StopSignal(run_dir)
            signal.signal(signal.SIGINT, lambda *_: stop.set())
            run_dir.update_status(stoppable=True)
        bars = _ProgressBars() if dist.is_main and not args.no_progress else None
        try:
            results = run_finetune(config, run_dir, stop_event=stop, callbacks=bars, dist=dist)
        finally:
            if bars is not None:
                bars.close()
        if dist.is_main:
            print(_summary(results, run_path))
        return 0
    finally:
        import torch

        if torch.distributed.is_available() and torch.distributed.is_initialized():
            torch.distributed.destroy_process_group()


def main(argv: list[str] | None = None) -> int:
    """`python -m vitdemo.cli.finetune ...`, the same as `python -m vitdemo finetune ...`."""
    from vitdemo.cli import main as cli_main

    return cli_main(["finetune", *(sys.argv[1:] if argv is None else argv)])


if __name__ == "__main__":
    sys.exit(main())
