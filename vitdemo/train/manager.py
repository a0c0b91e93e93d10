"""The run manager: a queue of fine-tuning runs and background worker threads, one run per device.

The app keeps one `RunManager` in `st.cache_resource`, so it outlives browser tabs: closing a tab
does not stop a run, and reopening the page finds it (and its files) again. Workers never call
Streamlit; the page polls the run directories, which also makes runs of other processes (the CLI)
and of earlier app sessions visible.
"""

from __future__ import annotations

import logging
import threading
import uuid
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path

from vitdemo.errors import VitdemoError
from vitdemo.models.loaded import LoadedModel
from vitdemo.train.config import FineTuneConfig
from vitdemo.train.engine import default_device, run_finetune
from vitdemo.train.run_dir import RunDir, default_runs_root, list_runs, register_owner, unregister_owner

log = logging.getLogger(__name__)


def device_key(device: str) -> str:
    """One queue per physical device: "cuda" and "cuda:0" are the same GPU."""
    return "cuda:0" if device == "cuda" else device


@dataclass(eq=False)
class _Job:
    run: RunDir
    config: FineTuneConfig
    model: LoadedModel | None
    device: str
    stop_event: threading.Event = field(default_factory=threading.Event)
    done: threading.Event = field(default_factory=threading.Event)


class RunManager:
    """Queues runs and executes them in background threads, one at a time per device.

    Args:
        root: folder of run directories (default: $VITDEMO_RUNS_DIR or ./runs).
    """

    def __init__(self, root: str | Path | None = None) -> None:
        self.root = Path(root) if root is not None else default_runs_root()
        self.token = uuid.uuid4().hex
        register_owner(self.token)
        self._lock = threading.Lock()
        self._queues: dict[str, deque[_Job]] = {}
        self._running: dict[str, _Job] = {}
        self._workers: dict[str, threading.Thread] = {}
        self._jobs: dict[str, _Job] = {}
        for run in list_runs(self.root):
            run.status()  # marks runs left active by a dead process as interrupted

    def submit(self, config: FineTuneConfig, *, model: LoadedModel | None = None) -> str:
        """Queue a run; returns its id (the name of its directory under `root`).

        Args:
            config: the run's settings (validated now, so a bad setting fails here, not later).
            model: an already loaded model to fine-tune a copy of; None loads `config.model`.
        """
        config.validate()
        device = device_key(config.device or default_device())
        base = Path(config.model.rstrip("/")).name or "model"
        run = RunDir.create(self.root, f"{config.name or base}-{config.mode}")
        run.update_status(state="queued", phase="waiting in the queue", device=device)
        run.claim(self.token)
        run.write_config(config.to_dict())
        job = _Job(run=run, config=config, model=model, device=device)
        with self._lock:
            self._jobs[run.run_id] = job
            self._queues.setdefault(device, deque()).append(job)
            if device not in self._workers:
                worker = threading.Thread(
                    target=self._work, args=(device,), name=f"finetune-{device}", daemon=True
                )
                self._workers[device] = worker
                worker.start()
        return run.run_id

    def _work(self, device: str) -> None:
        while True:
            with self._lock:
                queue = self._queues.get(device)
                if not queue:
                    self._workers.pop(device, None)
                    return
                job = queue.popleft()
                self._running[device] = job
            try:
                run_finetune(
                    job.config, job.run, model=job.model, stop_event=job.stop_event, cache_root=self.root
                )
            except VitdemoError:
                pass  # recorded in the run's status for the page to show
            except Exception:
                log.exception("Fine-tuning run %s failed", job.run.run_id)
            finally:
                with self._lock:
                    self._running.pop(device, None)
                job.model = None  # let the shared model's copy go
                job.done.set()

    def stop(self, run_id: str) -> bool:
        """Stop a running run after its current step, or cancel a queued one; False if not ours."""
        with self._lock:
            job = self._jobs.get(run_id)
            if job is None or job.done.is_set():
                return False
            queue = self._queues.get(job.device, deque())
            if job in queue:
                queue.remove(job)
                job.done.set()
                job.run.update_status(
                    state="cancelled", phase="cancelled", message="Cancelled before it started."
                )
                return True
        job.stop_event.set()
        return True

    def queued(self, device: str | None = None) -> list[str]:
        """Ids of runs waiting, in order (for one device, or all)."""
        with self._lock:
            queues = (
                [self._queues.get(device_key(device), deque())] if device else list(self._queues.values())
            )
            return [job.run.run_id for queue in queues for job in queue]

    def running(self) -> dict[str, str]:
        """{device: run id} of the runs executing now."""
        with self._lock:
            return {device: job.run.run_id for device, job in self._running.items()}

    def is_active(self, run_id: str) -> bool:
        """True while the run is queued or running in this manager."""
        with self._lock:
            job = self._jobs.get(run_id)
        return job is not None and not job.done.is_set()

    def has_active(self) -> bool:
        with self._lock:
            return any(not job.done.is_set() for job in self._jobs.values())

    def wait(self, run_id: str, timeout: float | None = None) -> bool:
        """Block until the run ends; False on timeout or if the run is not this manager's."""
        with self._lock:
            job = self._jobs.get(run_id)
        return job is not None and job.done.wait(timeout)

    def run_dir(self, run_id: str) -> RunDir:
        return RunDir(self.root / run_id)

    def close(self, timeout: float | None = 30.0) -> None:
        """Cancel queued runs, stop running ones, wait for the workers, and let go of the runs."""
        with self._lock:
            jobs = list(self._jobs.values())
        for job in jobs:
            self.stop(job.run.run_id)
        for job in jobs:
            job.done.wait(timeout)
        unregister_owner(self.token)
