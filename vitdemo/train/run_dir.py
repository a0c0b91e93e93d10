"""The on-disk record of a fine-tuning run: `runs/<id>/`.

    runs/<id>/
      config.json        the FineTuneConfig, plus the data summary once known
      status.json        state, phase, progress, ETA, pid/owner, heartbeat (rewritten atomically)
      metrics.jsonl      one JSON object a line, appended as the run goes:
                         {"kind": "step", ...} per step, {"kind": "epoch", ...} per epoch,
                         {"kind": "final", ...} once at the end
      results.json       before/after/soup evaluation, written at the end
      stop               present once someone asked the run to stop (the worker checks it every step)
      worker.log         the training worker's own output (a crash's traceback lands here)
      model.safetensors  the BEST checkpoint (highest validation accuracy) ...
      vitdemo.json       ... with its model card: so `runs/<id>` itself is a model directory
                         and `load_model("runs/<id>")` loads the best model
      last/              the most recent checkpoint, also a model directory (saved every epoch)
      soup/              the averaged best-K checkpoint, when soup_k > 0

A run whose status says it is preparing or running but whose process is gone (crash, killed
worker) is reported as "interrupted": its checkpoints from finished epochs are all still there.
A "queued" run belongs to no process: it waits on disk until a run manager on this folder starts
it, so it survives an app restart as queued.
"""

from __future__ import annotations

import json
import os
import re
import socket
import threading
import time
from collections import OrderedDict
from pathlib import Path
from typing import Any

from vitdemo.models.model_dir import is_model_dir

RUNS_DIR_ENV = "VITDEMO_RUNS_DIR"
ACTIVE_STATES = ("queued", "preparing", "running")
OWNED_STATES = ("preparing", "running")  # states a live process must be behind
FINAL_STATES = ("finished", "stopped", "failed", "interrupted", "cancelled")
_STALE_AFTER_S = 600  # a run on another host without a heartbeat for this long is interrupted

# Owners (run managers, CLI runs) alive in this process: a run owned by one that is not here any
# more (the app restarted, or its thread died) is interrupted even though the pid still matches.
_LIVE_OWNERS: set[str] = set()
_OWNERS_LOCK = threading.Lock()


def register_owner(token: str) -> None:
    with _OWNERS_LOCK:
        _LIVE_OWNERS.add(token)


def unregister_owner(token: str) -> None:
    with _OWNERS_LOCK:
        _LIVE_OWNERS.discard(token)


def default_runs_root() -> Path:
    """Where runs live: $VITDEMO_RUNS_DIR, else ./runs."""
    return Path(os.environ.get(RUNS_DIR_ENV) or "runs")


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")[:40] or "run"


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by someone else
        return True
    return not _is_zombie(pid)


def _is_zombie(pid: int) -> bool:
    """A process that exited but was not reaped yet still answers kill(pid, 0): it is dead all the same."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:  # no procfs (macOS) or already gone
        return False
    return stat.rsplit(")", 1)[-1].split()[0] in ("Z", "X")  # the field after "(command name)"


class RunDir:
    """One run's directory: paths, and reading/writing its files."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._append_lock = threading.Lock()

    @property
    def run_id(self) -> str:
        return self.path.name

    config_path = property(lambda self: self.path / "config.json")
    status_path = property(lambda self: self.path / "status.json")
    metrics_path = property(lambda self: self.path / "metrics.jsonl")
    results_path = property(lambda self: self.path / "results.json")
    stop_path = property(lambda self: self.path / "stop")
    log_path = property(lambda self: self.path / "worker.log")
    best_dir = property(lambda self: self.path)
    last_dir = property(lambda self: self.path / "last")
    soup_dir = property(lambda self: self.path / "soup")

    @classmethod
    def create(cls, root: str | Path, label: str) -> RunDir:
        """A new, empty run directory named `<timestamp>-<label>` (suffixed if taken)."""
        root = Path(root)
        root.mkdir(parents=True, exist_ok=True)
        base = f"{time.strftime('%Y%m%d-%H%M%S')}-{_slug(label)}"
        for n in range(1, 1000):
            path = root / (base if n == 1 else f"{base}-{n}")
            try:
                path.mkdir()
            except FileExistsError:
                continue
            return cls(path)
        raise RuntimeError(f"Could not create a run directory under {root}")

    # -- JSON files ---------------------------------------------------------------------------
    @staticmethod
    def _write_json(path: Path, data: dict) -> None:
        tmp = path.with_name(f"{path.name}.tmp-{os.getpid()}-{threading.get_ident()}")
        tmp.write_text(json.dumps(data, indent=2, default=str))
        tmp.replace(path)  # atomic: readers never see half a file

    @staticmethod
    def _read_json(path: Path) -> dict:
        try:
            return json.loads(path.read_text())
        except (OSError, json.JSONDecodeError):
            return {}

    def write_config(self, config: dict) -> None:
        self._write_json(self.config_path, config)

    def read_config(self) -> dict:
        return self._read_json(self.config_path)

    def write_results(self, results: dict) -> None:
        self._write_json(self.results_path, results)

    def read_results(self) -> dict:
        return self._read_json(self.results_path)

    def read_raw_status(self) -> dict:
        return self._read_json(self.status_path)

    def update_status(self, **fields: Any) -> dict:
        """Merge `fields` into status.json (with a heartbeat) and return the new status."""
        status = self.read_raw_status()
        status.update(fields, heartbeat=time.time())
        self._write_json(self.status_path, status)
        return status

    def claim(self, owner: str) -> None:
        """Record which process and owner drive this run (for interruption detection)."""
        self.update_status(pid=os.getpid(), host=socket.gethostname(), owner=owner)

    # -- metrics ------------------------------------------------------------------------------
    def append_metrics(self, record: dict) -> None:
        """Append one JSON line and flush it: a crash loses at most the line being written."""
        line = json.dumps(record, default=float) + "\n"
        with self._append_lock, open(self.metrics_path, "a") as f:
            f.write(line)
            f.flush()

    def read_metrics(self) -> list[dict]:
        """All complete metric records (a half-written last line from a crash is ignored).

        Only the lines appended since the last call (in this process) are parsed: a page polling a
        run with 10,000 steps every second reads a few new lines, not the whole file.
        """
        return _METRICS.read(self.metrics_path)

    # -- stop requests ------------------------------------------------------------------------
    def request_stop(self) -> None:
        """Ask the run's process to stop after its current step (it polls this file)."""
        self.stop_path.touch()

    def stop_requested(self) -> bool:
        return self.stop_path.exists()

    # -- state --------------------------------------------------------------------------------
    def status(self) -> dict:
        """status.json with `state` corrected: a started run whose process is gone is "interrupted"."""
        status = self.read_raw_status()
        state = status.get("state", "interrupted" if self.config_path.exists() else "unknown")
        if state in OWNED_STATES and not self._owner_alive(status):
            status = self.update_status(
                state="interrupted",
                message="The run stopped unexpectedly (its process ended); finished epochs are kept "
                "in last/ and the best one in the run folder. It is not resumed.",
            )
        status.setdefault("state", state)
        return status

    def started_at(self) -> float:
        """When the run started (or was queued, if it has not started): for newest-first lists."""
        status = self.read_raw_status()
        for key in ("started_at", "queued_at"):
            if isinstance(status.get(key), int | float):
                return float(status[key])
        try:
            return self.config_path.stat().st_mtime
        except OSError:
            return 0.0

    @staticmethod
    def _owner_alive(status: dict) -> bool:
        pid, host = status.get("pid"), status.get("host")
        if pid is None:
            return False
        if host and host != socket.gethostname():
            return time.time() - float(status.get("heartbeat", 0)) < _STALE_AFTER_S
        if pid == os.getpid():
            with _OWNERS_LOCK:
                return status.get("owner") in _LIVE_OWNERS
        return _pid_alive(int(pid))

    def has_model(self) -> bool:
        """True when the run has a best checkpoint: `load_model(str(path))` works."""
        return is_model_dir(self.path)


def list_runs(root: str | Path | None = None) -> list[RunDir]:
    """Run directories under `root` (default: default_runs_root()), newest first by start time.

    Start time, not folder name: `--out runs/cli-x` would otherwise sort above every timestamped run.
    """
    root = Path(root) if root is not None else default_runs_root()
    if not root.is_dir():
        return []
    runs = [RunDir(p) for p in root.iterdir() if p.is_dir() and (p / "config.json").exists()]
    return sorted(runs, key=lambda r: (r.started_at(), r.run_id), reverse=True)


def trained_models(root: str | Path | None = None) -> list[tuple[str, str]]:
    """(model spec, label) of every run with a loadable checkpoint, newest first.

    For other pages' model pickers: pass the spec to `vitdemo.load_model`.
    """
    choices = []
    for run in list_runs(root):
        if run.has_model():
            results = run.read_results()
            accuracy = (results.get("after") or {}).get("accuracy")
            suffix = f", val acc {accuracy:.0%}" if isinstance(accuracy, float) else ""
            choices.append((str(run.path), f"{run.run_id} ({run.status().get('state')}{suffix})"))
    return choices


class StopSignal:
    """A stop request from this process (`set()`, e.g. on SIGTERM) or from anyone via the run's stop file.

    Passed to `run_finetune` as its `stop_event`: the loop only calls `is_set()`, once per step.
    """

    def __init__(self, run: RunDir | None) -> None:
        self._event = threading.Event()
        self._run = run

    def set(self) -> None:
        self._event.set()

    def is_set(self) -> bool:
        return self._event.is_set() or (self._run is not None and self._run.stop_requested())


class _MetricsTail:
    """Parsed metrics.jsonl files, kept per path and extended by the bytes appended since last read.

    Bounded (the runs looked at most recently); a file that shrank or was replaced is read afresh.
    """

    def __init__(self, max_files: int = 16) -> None:
        self._files: OrderedDict[Path, tuple[tuple[int, int], int, list[dict]]] = OrderedDict()
        self._lock = threading.Lock()
        self._max = max_files

    def read(self, path: Path) -> list[dict]:
        try:
            stat = path.stat()
        except OSError:
            return []
        key = path.resolve()
        with self._lock:
            identity, offset, records = self._files.get(key, ((0, 0), 0, []))
            if identity != (stat.st_dev, stat.st_ino) or stat.st_size < offset:
                identity, offset, records = (stat.st_dev, stat.st_ino), 0, []
            if stat.st_size > offset:
                offset, records = self._extend(path, offset, records)
            self._files[key] = (identity, offset, records)
            self._files.move_to_end(key)
            while len(self._files) > self._max:
                self._files.popitem(last=False)
            return list(records)  # a copy: callers may filter or append without touching the cache

    @staticmethod
    def _extend(path: Path, offset: int, records: list[dict]) -> tuple[int, list[dict]]:
        try:
            with open(path, "rb") as f:
                f.seek(offset)
                tail = f.read()
        except OSError:
            return offset, records
        complete = tail[: tail.rfind(b"\n") + 1]  # a line still being written waits for next time
        records = list(records)  # never mutate a list another thread may be iterating
        for line in complete.splitlines():
            try:
                records.append(json.loads(line))
            except json.JSONDecodeError:
                continue  # a line cut by a crash
        return offset + len(complete), records


_METRICS = _MetricsTail()
