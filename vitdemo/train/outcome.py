"""How a run ends on disk: its results (finished or stopped), or its failure, always in status.json.

A person-fixable problem (`VitdemoError`) is recorded with its one sentence; anything else as an
internal error, with the traceback in the run's error.log. Either way the error is raised again.
"""

from __future__ import annotations

import time
import traceback
from collections.abc import Callable

from vitdemo.errors import VitdemoError
from vitdemo.train.loop import TrainingLoop
from vitdemo.train.run_state import RunState, RunStopped

STOPPED_EARLY = "Stopped before training started: no checkpoint was saved."


def summarise(
    run: RunState, loop: TrainingLoop, before: dict | None, before_kind: str, soup: dict | None
) -> dict:
    """The results dict written to results.json: before/after reports, soup, data, timings."""
    best = loop.best
    return {
        "state": "stopped" if loop.stopped else "finished",
        "epochs_completed": loop.epochs_done,
        "best_epoch": best["epoch"] if best else None,
        "chance_accuracy": 1 / len(run.data.classes),
        "before": before,
        "before_kind": before_kind,
        "after": best["report"] if best else None,
        "soup": soup,
        "data": run.data.summary(),
        "timings": {
            "total_seconds": round(time.time() - run.started, 2),
            "train_step_seconds": round(loop.train_seconds, 3),
            "epoch_seconds": [round(s, 4) for s in loop.epoch_seconds],
        },
        "device": str(run.device),
        "world_size": run.dist.world_size,
    }


def execute_and_record(state: RunState, execute: Callable[[RunState], dict]) -> dict:
    """Run `execute(state)` and record how it ended: results, a stop, or a failure (re-raised)."""
    try:
        results = execute(state)
    except RunStopped:
        state.status(force=True, state="stopped", phase="stopped", message=STOPPED_EARLY)
        return {"state": "stopped", "message": STOPPED_EARLY}
    except VitdemoError as err:
        record_failure(state, str(err))
        raise
    except Exception as err:
        record_failure(state, f"Internal error ({type(err).__name__}: {err}).", traceback.format_exc())
        raise
    record_results(state, results)
    return results


def record_results(state: RunState, results: dict) -> None:
    """results.json, the final metrics line and the final status (rank 0 only)."""
    if state.run is None:
        return
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


def record_failure(state: RunState, message: str, details: str | None = None) -> None:
    """Mark the run failed with `message`; `details` (a traceback) go to error.log."""
    if state.run is None:
        return
    if details:
        (state.run.path / "error.log").write_text(details)
    state.status(force=True, state="failed", phase="failed", message=message, finished_at=time.time())
