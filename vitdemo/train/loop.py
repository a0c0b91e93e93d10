"""The fine-tuning loop: epochs, optimizer steps, evaluation, checkpoints, and the soup at the end."""

from __future__ import annotations

import time

import torch.nn.functional as F

from vitdemo.models.threads import cpu_threads
from vitdemo.train.checkpoints import save_checkpoint
from vitdemo.train.device import autocast
from vitdemo.train.distributed import sync_buffers, wrap_ddp
from vitdemo.train.optim import build_optimizer, lr_at, set_lr
from vitdemo.train.run_state import RunState
from vitdemo.train.soup import BestK, make_soup, state_snapshot
from vitdemo.train.trainers import HeadTrainer, NetworkTrainer


class TrainingLoop:
    """Epochs, steps, evaluation and checkpoints, shared by both trainers."""

    def __init__(self, run: RunState, trainer: HeadTrainer | NetworkTrainer) -> None:
        self.run, self.trainer = run, trainer
        config = run.config
        self.optimizer = build_optimizer(run.trainable, config, run.device)
        self.forward = wrap_ddp(trainer.module, run.dist, run.device)
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
        # Head-mode steps are tiny matrix products: waking a second OpenMP thread costs more than
        # it saves, and on a busy machine far more (measured: 0.6 ms/step on 1 thread, 9-60 ms on 2).
        tiny_steps = isinstance(self.trainer, HeadTrainer) and run.device.type == "cpu"
        with cpu_threads(1 if tiny_steps else None):
            for epoch in range(1, run.config.epochs + 1):
                started = time.perf_counter()
                train_loss = self._train_epoch(epoch)
                if train_loss is None:
                    self.stopped = True
                    break
                sync_buffers(self.trainer.module, run.dist)
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
            with autocast(run.device):
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
        report = run.report(self.trainer.val_logits())
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
        """Average the best K epochs' weights, evaluate, save as soup/; restores the trained weights after."""
        run = self.run

        def save(report: dict) -> None:
            if run.run is not None:
                card = run.card.card(
                    epoch=None, soup_of_epochs=self.best_k.epochs, val_accuracy=report["accuracy"]
                )
                save_checkpoint(run.run.soup_dir, run.network, card)

        soup = make_soup(
            run.network, self.best_k, run.state_keys, lambda: run.report(self.trainer.val_logits()), save
        )
        if soup is None:
            return None
        best = self.best["report"]["accuracy"]
        return {**soup, "best_single_accuracy": best, "accuracy_gain": soup["report"]["accuracy"] - best}
