"""A run's progress as one read-only snapshot, for displays (the page, notebooks, scripts).

Built from the run directory alone, so runs of this app, of the CLI in another process, and of
earlier sessions all read the same way.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from vitdemo.train.run_dir import ACTIVE_STATES, RunDir


@dataclass
class RunSnapshot:
    """Everything a display needs about one run, at one moment."""

    run_id: str
    path: str
    state: str  # queued | preparing | running | finished | stopped | failed | interrupted | cancelled
    phase: str  # what it is doing now, in words
    fraction: float  # 0..1 progress of the current phase (training: steps done / all steps)
    progress_text: str  # e.g. "epoch 3/10 · step 120/400"
    eta_seconds: float | None
    message: str  # a sentence for the person (why it failed, was interrupted, ...)
    config: dict
    metrics: list[dict] = field(default_factory=list)
    results: dict = field(default_factory=dict)
    has_model: bool = False

    @property
    def active(self) -> bool:
        return self.state in ACTIVE_STATES

    @property
    def labels(self) -> list[str]:
        summary = self.config.get("data_summary") or {}
        return list(summary.get("classes") or [])


def snapshot(run: RunDir) -> RunSnapshot:
    """Read a run directory into a RunSnapshot (cheap: a few small files)."""
    status = run.status()
    config = run.read_config()
    state = status.get("state", "unknown")
    epochs = config.get("epochs")
    step, total_steps = status.get("step") or 0, status.get("total_steps") or 0
    if state == "running" and total_steps:
        fraction = step / total_steps
        text = f"epoch {status.get('epoch') or 1}/{epochs} · step {step}/{total_steps}"
    elif state == "preparing" and status.get("total"):
        fraction = (status.get("done") or 0) / status["total"]
        text = f"{status.get('phase', 'preparing')}: {status.get('done', 0)}/{status['total']}"
    else:
        fraction = 1.0 if state == "finished" else (step / total_steps if total_steps else 0.0)
        text = status.get("phase", state)
    return RunSnapshot(
        run_id=run.run_id,
        path=str(run.path),
        state=state,
        phase=status.get("phase", ""),
        fraction=max(0.0, min(1.0, fraction)),
        progress_text=text,
        eta_seconds=status.get("eta_seconds") if state in ACTIVE_STATES else None,
        message=status.get("message", ""),
        config=config,
        metrics=run.read_metrics(),
        results=run.read_results(),
        has_model=run.has_model(),
    )
