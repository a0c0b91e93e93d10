"""The run manager: a queue of fine-tuning runs on disk, each run trained by a worker process.

The run directory is the only shared state. `submit` writes a run folder whose status is "queued";
the manager starts a worker process (`python -m vitdemo.train.worker RUN_DIR`, in a new session)
for the oldest queued run of a device when no run is training on that device. So:

- training never runs in the app's interpreter: watching a run (charts, polling) and serving other
  tabs do not slow it down through the interpreter lock, and it does not slow them;
- a run goes on when the app restarts or is killed (the worker is not the app's child session);
- queued runs survive a restart as queued: a new manager on the same folder starts them;
- a stop request is a file in the run directory (`RunDir.request_stop`), honoured by the worker
  (and by single-process CLI runs) after the current step;
- a worker that died (crash, kill -9) is found by its pid and its run reported as interrupted;
  it is not resumed (its best and last checkpoints stay loadable).

The app keeps one manager per runs folder in `st.cache_resource`. Several managers (processes) on
one folder agree through a lock file, so a queued run is started once.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

from vitdemo.models.loaded import LoadedModel
from vitdemo.train.config import ConfigError, FineTuneConfig
from vitdemo.train.run_dir import ACTIVE_STATES, OWNED_STATES, RunDir, default_runs_root

try:  # POSIX; elsewhere managers of one folder in different processes are not coordinated
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None

log = logging.getLogger(__name__)

_PACKAGE_PARENT = str(Path(__file__).resolve().parents[2])  # so the worker imports this same vitdemo


def device_key(device: str | None) -> str:
    """One queue per physical device: "cuda" and "cuda:0" are the same GPU."""
    if not device:
        from vitdemo.train.device import default_device

        device = default_device()
    return "cuda:0" if device == "cuda" else device


def worker_spec(model: LoadedModel) -> str:
    """The spec a worker process loads to get `model` again; ConfigError if there is none.

    A model built in code (not by `load_model`) has no spec to reload, and a worker cannot be
    handed a Python object.
    """
    from vitdemo.models.specs import ModelSpecError, parse_spec

    try:
        spec = parse_spec(model.spec)
    except ModelSpecError:
        spec = None
    if spec is None or (spec.kind == "dir" and not Path(spec.name).is_dir()):
        raise ConfigError(
            f"The model '{model.spec}' was not loaded from a spec the training worker can load again: "
            "save it as a model folder (vitdemo.models.model_dir.save_model_dir) and fine-tune that folder."
        )
    if spec.kind == "dir":  # the worker may resolve relative paths elsewhere one day: pin it
        return str(Path(spec.name).resolve()) + ("@random" if spec.random else "")
    return model.spec


class RunManager:
    """Queues runs on disk and trains them in worker processes, one at a time per device.

    Args:
        root: folder of run directories (default: $VITDEMO_RUNS_DIR or ./runs).
        poll_seconds: how often finished workers are noticed and the next queued run started.
    """

    def __init__(self, root: str | Path | None = None, *, poll_seconds: float = 0.5) -> None:
        self.root = Path(root) if root is not None else default_runs_root()  # created by the first submit
        self._lock = threading.Lock()
        self._children: dict[str, subprocess.Popen] = {}  # run id → the worker this manager started
        self._submitted: list[str] = []
        self._final: set[str] = set()  # runs seen in a final state: never read again
        self._closed = threading.Event()
        self._dispatch()  # queued runs left by an earlier app start now
        self._watcher = threading.Thread(
            target=self._watch, args=(poll_seconds,), name="finetune-dispatch", daemon=True
        )
        self._watcher.start()

    # -- queueing -----------------------------------------------------------------------------
    def submit(self, config: FineTuneConfig, *, model: LoadedModel | None = None) -> str:
        """Queue a run; returns its id (the name of its directory under `root`).

        Args:
            config: the run's settings (validated now, so a bad setting fails here, not later).
            model: the loaded model the person picked (the app's shared one). The worker loads it
                again from `model.spec`; ConfigError when it has no spec a worker can load.
        """
        config.validate()
        if model is not None:
            config = dataclasses.replace(config, model=worker_spec(model))
        device = device_key(config.device)
        base = Path(config.model.rstrip("/")).name or "model"
        run = RunDir.create(self.root, f"{config.name or base}-{config.mode}")
        run.update_status(state="queued", phase="waiting in the queue", device=device, queued_at=time.time())
        run.write_config(config.to_dict())
        with self._lock:
            self._submitted.append(run.run_id)
        self._dispatch()
        return run.run_id

    def _dispatch(self) -> bool:
        """Start a worker for the oldest queued run of every device that has no run training.

        Returns True while any run under root is queued or started (the watcher keeps polling fast).
        """
        if not self.root.is_dir():
            return False
        with self._lock, _folder_lock(self.root):
            active = self._scan()
            busy = {self._device_of(run, status) for run, status in active if status["state"] in OWNED_STATES}
            waiting = sorted(
                (status.get("queued_at", 0.0), run.run_id, run, status)
                for run, status in active
                if status["state"] == "queued"
            )
            for _, _, run, status in waiting:
                device = self._device_of(run, status)
                if device not in busy and not self._closed.is_set():
                    busy.add(device)
                    self._start_worker(run)
            return bool(active or self._children)

    def _start_worker(self, run: RunDir) -> None:
        env = dict(
            os.environ,
            PYTHONPATH=os.pathsep.join(filter(None, [_PACKAGE_PARENT, os.environ.get("PYTHONPATH")])),
        )
        command = [
            sys.executable,
            "-m",
            "vitdemo.train.worker",
            str(run.path),
            "--cache-root",
            str(self.root),
        ]
        with open(run.log_path, "ab") as worker_log:
            child = subprocess.Popen(
                command,
                stdin=subprocess.DEVNULL,
                stdout=worker_log,
                stderr=subprocess.STDOUT,
                env=env,
                start_new_session=True,  # a restart or Ctrl-C of the app does not reach the run
            )
        # Written only now that a pid exists: a started run without a live pid reads as interrupted.
        run.update_status(state="preparing", phase="starting the training worker", pid=child.pid,
                          host=socket.gethostname(), owner=None, started_at=time.time(), stoppable=True)  # fmt: skip
        self._children[run.run_id] = child

    def _scan(self) -> list[tuple[RunDir, dict]]:
        """(run, status) of every queued or started run under root; call with self._lock held."""
        if not self.root.is_dir():
            return []
        active = []
        for path in self.root.iterdir():
            if path.name in self._final or not (path / "config.json").is_file():
                continue
            run = RunDir(path)
            status = run.status()
            if status["state"] in ACTIVE_STATES:
                active.append((run, status))
            else:
                self._final.add(path.name)
        return active

    @staticmethod
    def _device_of(run: RunDir, status: dict) -> str:
        device = status.get("device") or run.read_config().get("device")  # CLI runs: from their config
        return device_key(device) if device else "cpu"

    # -- the watcher --------------------------------------------------------------------------
    def _watch(self, poll_seconds: float) -> None:
        idle = False
        # With nothing queued or training, look 10× less often: only other processes can add work then.
        while not self._closed.wait(poll_seconds * (10 if idle else 1)):
            try:
                self._reap()
                idle = not self._dispatch()
            except Exception:  # never let the watcher die: the queue would stall silently
                log.exception("Fine-tuning dispatcher failed; retrying")

    def _reap(self) -> None:
        """Collect workers that exited; a run they left active is interrupted, with the reason."""
        with self._lock:
            ended = {rid: c.returncode for rid, c in self._children.items() if c.poll() is not None}
            for run_id in ended:
                del self._children[run_id]
        for run_id, code in ended.items():
            run = self.run_dir(run_id)
            status = run.read_raw_status()
            if status.get("state") in ACTIVE_STATES or (code and status.get("state") == "interrupted"):
                how = f"was killed by signal {-code}" if code < 0 else f"exited with code {code}"
                run.update_status(
                    state="interrupted",
                    phase="interrupted",
                    message=f"The training worker {how} before the run ended{_last_line(run.log_path)}; "
                    "finished epochs are kept and the run is not resumed.",
                )

    # -- control and queries ------------------------------------------------------------------
    def stop(self, run_id: str) -> bool:
        """Stop a run after its current step, or cancel a queued one; False if it is not active here."""
        run = self.run_dir(run_id)
        if not run.config_path.is_file():
            return False
        with self._lock, _folder_lock(self.root):  # not while a dispatcher is starting it
            status = run.status()
            if status["state"] == "queued":
                run.update_status(state="cancelled", phase="cancelled", message="Cancelled before it started.",
                                  finished_at=time.time())  # fmt: skip
                return True
        if status["state"] in OWNED_STATES and status.get("stoppable"):
            run.request_stop()
            return True
        return False

    def can_stop(self, run_id: str) -> bool:
        """True for a queued run, or a started one whose process watches the stop file."""
        status = self.run_dir(run_id).status()
        return status.get("state") == "queued" or (
            status.get("state") in OWNED_STATES and bool(status.get("stoppable"))
        )

    def queue(self) -> tuple[dict[str, str], list[str]]:
        """({device: id of the run training there}, [ids of queued runs, oldest first]), read from disk."""
        with self._lock:
            active = self._scan()
        running = {self._device_of(run, s): run.run_id for run, s in active if s["state"] in OWNED_STATES}
        queued = sorted((s.get("queued_at", 0.0), run.run_id) for run, s in active if s["state"] == "queued")
        return running, [run_id for _, run_id in queued]

    def queued(self, device: str | None = None) -> list[str]:
        """Ids of runs waiting, oldest first (for one device, or all)."""
        wanted = device_key(device) if device else None
        with self._lock:
            active = self._scan()
        waiting = sorted(
            (s.get("queued_at", 0.0), run.run_id)
            for run, s in active
            if s["state"] == "queued" and wanted in (None, self._device_of(run, s))
        )
        return [run_id for _, run_id in waiting]

    def running(self) -> dict[str, str]:
        """{device: run id} of the runs training now (this app's, other processes', the CLI's)."""
        return self.queue()[0]

    def is_active(self, run_id: str) -> bool:
        """True while the run is queued or started and its process alive."""
        return self.run_dir(run_id).status().get("state") in ACTIVE_STATES

    def has_active(self) -> bool:
        return any(self.queue())

    def wait(self, run_id: str, timeout: float | None = None) -> bool:
        """Block until the run ends; False on timeout or if there is no such run."""
        run = self.run_dir(run_id)
        deadline = None if timeout is None else time.monotonic() + timeout
        while run.config_path.is_file():
            if run.status().get("state") not in ACTIVE_STATES:
                return True
            if deadline is not None and time.monotonic() > deadline:
                return False
            time.sleep(0.1)
        return False

    def run_dir(self, run_id: str) -> RunDir:
        return RunDir(self.root / run_id)

    def close(self, timeout: float | None = 30.0, *, stop_runs: bool = True) -> None:
        """Stop dispatching. With `stop_runs`, also cancel this manager's queued runs and stop its running
        ones, waiting up to `timeout` s for each; without, they go on (queued ones wait for the next manager).
        """
        self._closed.set()
        self._watcher.join()
        if not stop_runs:
            return
        with self._lock:
            submitted = list(self._submitted)
        for run_id in submitted:
            self.stop(run_id)
        for run_id in submitted:
            self.wait(run_id, timeout)
        with self._lock:
            children = list(self._children.values())
        for child in children:
            with contextlib.suppress(subprocess.TimeoutExpired):
                child.wait(timeout)
        self._reap()


@contextlib.contextmanager
def _folder_lock(root: Path) -> Iterator[None]:
    """Exclusive across processes for the runs folder: two managers never start the same queued run."""
    if fcntl is None:
        yield
        return
    with open(root / ".manager.lock", "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _last_line(path: Path) -> str:
    """' (<the last line of the worker's log>)': its error, usually; '' when there is none."""
    try:
        lines = path.read_text(errors="replace").strip().splitlines()
    except OSError:
        return ""
    return f" ({lines[-1].strip()[:200]})" if lines else ""
