"""The training worker: one run, in a process of its own, driven only by its run directory.

    python -m vitdemo.train.worker runs/<id>

The run manager starts this in a new session (`start_new_session=True`), so the run goes on when
the app that started it restarts or is killed, and training never competes with the app's threads
for the interpreter lock. Everything the worker needs is on disk: the settings in `config.json`
(with `model` a spec it loads itself), the stop request as the file `stop`. SIGTERM and SIGINT stop
the run the same way (after the current step, keeping the last checkpoint).
"""

from __future__ import annotations

import argparse
import signal
import sys
from pathlib import Path

from vitdemo.errors import VitdemoError
from vitdemo.train.config import FineTuneConfig
from vitdemo.train.run_dir import RunDir, StopSignal


def run_worker(run_path: str | Path, cache_root: str | Path | None = None) -> int:
    """Train the run whose directory is `run_path` to its end; 0 when it finished or stopped.

    Args:
        run_path: a run directory holding `config.json` (written by `RunManager.submit`).
        cache_root: where uploaded archives are extracted; default: the run's parent folder.
    """
    from vitdemo.train.engine import run_finetune  # torch: only once the process is really training

    run = RunDir(run_path)
    config = FineTuneConfig.from_dict(run.read_config())
    stop = StopSignal(run)
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())
    try:
        run_finetune(config, run, stop_event=stop, cache_root=cache_root)
    except VitdemoError:
        return 1  # the one-line reason is in status.json for the page
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description="Run one queued fine-tuning run (started by the run manager)."
    )
    parser.add_argument("run_dir", help="the run directory (holds config.json)")
    parser.add_argument("--cache-root", default=None, help="where uploaded archives are extracted")
    args = parser.parse_args(argv)
    return run_worker(args.run_dir, args.cache_root)


if __name__ == "__main__":
    sys.exit(main())
