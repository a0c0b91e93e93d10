"""Watching a fine-tuning run: its speed with and without watchers, and what one chart refresh costs.

    python benchmarks/finetune_watching.py [--watchers 3] [--epochs 3] [--run-repeats 2] [--before-ref 11b7c39]

Part 1, the run: a full-mode demo-resnet run on Shapes, trained by the run manager's worker
process as the app does it. Seconds per step (median step-to-step time from metrics.jsonl) with no
watcher, then again while `--watchers` threads of this process do what one open Fine-tune tab
costs the server every second: read the queue and the run folder, get the run's two charts, and
serialise them as `st.plotly_chart` does (plotly `to_dict` + `to_json`).

Part 2, one refresh of the charts at 10 / 1,000 / 10,000 step rows (20 steps an epoch):
  * before: the page at `--before-ref` (git), per tab per second: parse all of metrics.jsonl and
    build both figures (one layout shape per epoch boundary);
  * now, per tab per second: read the new lines and take the shared figures (a cache hit);
  * now, once per new metrics row for all tabs together: read it and rebuild both figures;
  * serialising each figure for the browser (per tab, before and now).
Prints one JSON line; times in milliseconds are the best of `--repeats` (a shared machine's noise).
"""

from __future__ import annotations

import argparse
import importlib.util
import itertools
import json
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import plotly.io as pio

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from vitdemo.train import FineTuneConfig, RunDir, RunManager, snapshot  # noqa: E402
from vitdemo.ui.training_charts import live_run_figures  # noqa: E402

STEPS_PER_EPOCH = 20


def _seconds_per_step(run: RunDir) -> float:
    t = [m["t"] for m in run.read_metrics() if m.get("kind") == "step"]
    return statistics.median(b - a for a, b in itertools.pairwise(t))


def _serialise(figures) -> None:
    for figure in figures:
        pio.to_json(figure.to_dict(), validate=False)  # what st.plotly_chart sends to the browser


def _watch(manager: RunManager, run: RunDir, done: threading.Event, ticks: list[float]) -> None:
    """One open tab: every second, the queue line, the run snapshot and both charts, serialised."""
    while not done.is_set():
        started = time.perf_counter()
        manager.queue()
        view = snapshot(run)
        if view.metrics:
            _serialise(live_run_figures(view.path, view.metrics))
        ticks.append(time.perf_counter() - started)
        done.wait(max(0.0, 1.0 - (time.perf_counter() - started)))


def run_speed(root: Path, epochs: int, watchers: int) -> dict:
    manager = RunManager(root)
    config = FineTuneConfig(model="demo-resnet", data="shapes", mode="full", epochs=epochs, batch_size=32)
    run_id = manager.submit(config)
    run = manager.run_dir(run_id)
    done, ticks = threading.Event(), []
    threads = [threading.Thread(target=_watch, args=(manager, run, done, ticks)) for _ in range(watchers)]
    for thread in threads:
        thread.start()
    try:
        manager.wait(run_id)
    finally:
        done.set()
        for thread in threads:
            thread.join()
        manager.close()
    status = run.status()
    assert status["state"] == "finished", status
    return {
        "seconds_per_step": round(_seconds_per_step(run), 3),
        "watcher_refresh_ms_median": round(1000 * statistics.median(ticks), 2) if ticks else None,
    }


def run_speeds(root: Path, epochs: int, watchers: int, repeats: int) -> dict:
    """Unwatched and watched runs alternating `repeats` times; the best of each counts (shared machine)."""
    unwatched, watched = [], []
    for _ in range(repeats):
        unwatched.append(run_speed(root, epochs, 0))
        watched.append(run_speed(root, epochs, watchers))
    best, best_watched = (min(r["seconds_per_step"] for r in runs) for runs in (unwatched, watched))
    return {
        "unwatched_seconds_per_step": best,
        f"watched_by_{watchers}_seconds_per_step": best_watched,
        "watched_vs_unwatched_speed": round(best / best_watched, 3),
        "watcher_refresh_ms_median": statistics.median(r["watcher_refresh_ms_median"] for r in watched),
        "all_seconds_per_step": {
            "unwatched": [r["seconds_per_step"] for r in unwatched],
            "watched": [r["seconds_per_step"] for r in watched],
        },
    }


def _metrics_file(root: Path, rows: int) -> RunDir:
    run = RunDir.create(root, f"rows-{rows}")
    with open(run.metrics_path, "w") as f:
        for i in range(rows):
            epoch = 1 + i // STEPS_PER_EPOCH
            f.write(json.dumps({"kind": "step", "epoch": epoch, "step": i + 1, "loss": 2.0 / (1 + i / 300),
                                "lr": 1e-4, "t": i * 0.8}) + "\n")  # fmt: skip
            if (i + 1) % STEPS_PER_EPOCH == 0:
                f.write(json.dumps({"kind": "epoch", "epoch": epoch, "train_loss": 1.0, "val_loss": 1.1,
                                    "val_accuracy": 0.5, "best": epoch == 1, "lr": 1e-4}) + "\n")  # fmt: skip
    return run


def _best_ms(fn, repeats: int) -> float:
    best = float("inf")
    for _ in range(repeats):
        started = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - started)
    return round(1000 * best, 2)


def _old_charts(ref: str):
    """The chart module as it was at `ref`, or None when git cannot show it."""
    try:
        source = subprocess.run(["git", "show", f"{ref}:vitdemo/ui/training_charts.py"], cwd=REPO,
                                capture_output=True, text=True, check=True).stdout  # fmt: skip
    except (OSError, subprocess.CalledProcessError):
        return None
    path = Path(tempfile.mkdtemp()) / "training_charts_before.py"
    path.write_text(source)
    spec = importlib.util.spec_from_file_location("training_charts_before", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _read_whole(run: RunDir) -> list[dict]:
    """The old RunDir.read_metrics: every line parsed on every call."""
    return [json.loads(line) for line in run.metrics_path.read_text().splitlines()]


def chart_costs(root: Path, before_ref: str, repeats: int, row_counts: list[int]) -> dict:
    old = _old_charts(before_ref)
    costs = {}
    for rows in row_counts:
        run = _metrics_file(root, rows)
        metrics = run.read_metrics()
        row = {"rows": rows}
        if old is not None:
            old_repeats = repeats if rows <= 1_000 else 1  # ~a minute a build at 10,000 rows
            figures = []

            def before(figures=figures, run=run):
                records = _read_whole(run)
                figures[:] = [old.step_loss_chart(records), old.epoch_metrics_chart(records)]

            row["before_per_tab_refresh_ms"] = _best_ms(before, old_repeats)
            row["before_serialise_ms"] = _best_ms(lambda figures=figures: _serialise(figures), old_repeats)
        live_run_figures(str(run.path), metrics)  # the first tab builds them

        def now_per_tab(run=run):
            live_run_figures(str(run.path), run.read_metrics())

        def now_new_row(run=run):
            step = len(run.read_metrics()) + 1
            run.append_metrics(
                {"kind": "step", "epoch": 10**6, "step": 10**7 + step, "loss": 0.1, "lr": 1e-4}
            )
            live_run_figures(str(run.path), run.read_metrics())

        row["now_per_tab_refresh_ms"] = _best_ms(now_per_tab, repeats)
        row["now_per_new_row_ms"] = _best_ms(now_new_row, repeats)
        row["now_serialise_ms"] = _best_ms(
            lambda run=run: _serialise(live_run_figures(str(run.path), run.read_metrics())), repeats
        )
        costs[str(rows)] = row
    return costs


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--watchers", type=int, default=3, help="simulated open tabs in the second run")
    ap.add_argument("--epochs", type=int, default=3, help="epochs of each full-mode run (6 steps each)")
    ap.add_argument("--before-ref", default="11b7c39", help="git ref of the page before this change")
    ap.add_argument("--repeats", type=int, default=5, help="chart timings: best of this many")
    ap.add_argument(
        "--run-repeats", type=int, default=2, help="alternate unwatched and watched runs this often"
    )
    ap.add_argument("--skip-run", action="store_true", help="only the chart costs")
    ap.add_argument("--chart-rows", default="10,1000,10000", help="metric rows to time a chart refresh at")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        result = {"benchmark": "finetune_watching", "model": "demo-resnet", "mode": "full", "data": "shapes"}
        if not args.skip_run:
            result.update(run_speeds(root / "runs", args.epochs, args.watchers, args.run_repeats))
        rows = [int(r) for r in args.chart_rows.split(",") if r.strip()]
        result["chart_refresh"] = chart_costs(root / "charts", args.before_ref, args.repeats, rows)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
