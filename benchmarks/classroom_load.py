"""Benchmark: a class at once. N students upload a picture in the same second; how long do they wait?

Starts the app (`streamlit run app.py`) on a free local port and opens N browser contexts in one
headless Chromium (Debian's /usr/bin/chromium through Playwright): N separate sessions, as N
students' laptops would be. Each loads the Explore page, then all upload a different held-out
Shapes image at once. Per N it reports, in seconds from the upload:
  * top3: until every model's top-3 bars and "Top guess" line are visible;
  * maps: until every model's input view and four map tiles are decoded in the browser;
  (median / p95 / max), and the same split where the time goes:
  * upload: until the browser had sent the file (one loaded Chromium's delay, not the server's);
  * server_top3, server_maps: from the server having the file until it handed every model's top-3
    (and tiles) to Streamlit, read from the server's timing log (`VITDEMO_TIMING_LOG`); on a real
    class each student's own laptop draws the page, so this is the server's answer time;
  failures (a timeout, an error on the page), a cross-talk check (each
tab's top-1 equals `vitdemo.predict` on its own image, computed here), the page-load time of the N
tabs, and the server's peak resident memory.

With `--solo-rounds R`, one student then uploads alone R more times, a fresh tab each: the spread
of the single-student figures (one upload is one sample of a noisy machine).

Phase "finetune": a full-mode fine-tuning run of demo-resnet started from the Fine-tune page,
watched by 0, 1 and 5 tabs → seconds per training step in each window (after the tabs settled),
the cores the server, the run's worker and the browser used in it, and the load time of one more
tab while it trains.

Phase "random": the same Explore measurement on untrained ViT-B/16 + ResNet-50
(`vit@random,resnet@random`, no download), at N = 1 and 10 by default.

A benchmark, not a test (CI does not run it). The machine's other load changes every figure:
`load_avg` is reported at the start and end.

Usage:
  python benchmarks/classroom_load.py [--ns 1,10,20,30] [--solo-rounds 0] [--phases explore,random,finetune]
      [--random-ns 1,10] [--watchers 0,1,5] [--window-s 30] [--settle-s 10] [--browser-priority normal]
      [--port 0] [--timeout-s 240]
Prints one JSON line.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import os
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from contextlib import contextmanager, suppress
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    # Every student's tab is in the foreground of their own laptop: no throttling of "background" tabs.
    "--disable-background-timer-throttling",
    "--disable-renderer-backgrounding",
    "--disable-backgrounding-occluded-windows",
]
DEMO_MODELS = "demo-vit,demo-resnet"
RANDOM_MODELS = "vit@random,resnet@random"
TILES_PER_MODEL = 5  # the model input view and four maps
FIRST_HELD_OUT = 500  # test-split indices from here on: not the gallery's, a new image every student
POLL_S = 0.25

# What the browser reports for one uploaded image: are all models' top-3 and all maps visible, the
# top guesses, and any error on the page. Keys are the Explore page's container keys.
PAGE_STATE_JS = """([digest, models, tiles]) => {
    // Streamlit keeps the previous run's elements on screen, greyed out (data-stale="true"), until
    // the new run replaces them: only fresh elements count as visible.
    const fresh = (root, selector) => root
        ? [...root.querySelectorAll(selector)].filter(el => !el.closest('[data-stale="true"]'))
        : [];
    // textContent, never innerText: innerText forces a layout, and the check runs after every
    // burst of changes in twenty tabs: the benchmark must not measure its own load on the browser.
    const main = document.querySelector('[data-testid=stMain]');
    const broken = fresh(document, '[data-testid=stException]').length > 0
        || (main && main.textContent.includes('Something went wrong'));
    let top3 = true, maps = true, caption = true;
    const guesses = [];
    for (let i = 0; i < models; i++) {
        const answer = document.querySelector(`.st-key-explore_top3_${i}_${digest}`);
        // Progress bars (or an older version's plotly bars, so before/after runs compare).
        const bars = fresh(answer, '[data-testid=stProgress], text.bartext').length;
        const lines = fresh(answer, '[data-testid=stCaptionContainer]')
            .map(el => (el.textContent.match(/Top guess: (.*) \\(\\d+%\\)/) || [])[1]).filter(Boolean);
        if (bars < 1 || !lines.length) top3 = false;
        if (!lines.length) caption = false;
        guesses.push(lines[0] || null);
        const box = document.querySelector(`.st-key-explore_maps_${i}_${digest}`);
        const images = fresh(box, '[data-testid=stImage] img');
        if (images.length < tiles || !images.every(img => img.complete && img.naturalWidth > 0)) maps = false;
    }
    const errors = fresh(document, '[data-testid=stAlertContentError]').map(e => e.textContent);
    return {top3, maps, caption, guesses, error: broken ? 'page error' : (errors.length ? errors.join(' | ') : null)};
}"""

# Installed in the tab before the upload: checks the page after every burst of DOM changes and
# every image load, and keeps the wall-clock time (ms since the epoch) at which each condition first
# held. Event-driven, so the figures are not rounded up to a polling interval (a 0.25 s poll adds
# 0–0.25 s to every time, which at one student is half the target), and the harness reads the
# record whenever it likes without adding to it.
WATCH_JS = (
    """([digest, models, tiles]) => {
    const state = """
    + PAGE_STATE_JS
    + """;
    const seen = {top3: null, maps: null, caption: null, error: null, guesses: null};
    window.__vitdemoSeen = seen;
    let pending = false;
    const check = () => {
        pending = false;
        if (seen.maps !== null || seen.error !== null) return;
        const s = state([digest, models, tiles]);
        const now = Date.now();
        if (s.error) { seen.error = s.error; seen.errorAt = now; return; }
        if (s.caption && seen.caption === null) seen.caption = now;
        if (s.top3 && seen.top3 === null) { seen.top3 = now; seen.guesses = s.guesses; }
        if (s.maps) {
            seen.maps = now;
            if (seen.top3 === null) { seen.top3 = now; seen.guesses = s.guesses; }
        }
    };
    const soon = () => { if (!pending) { pending = true; setTimeout(check, 0); } };
    new MutationObserver(soon).observe(document.body,
        {subtree: true, childList: true, attributes: true, characterData: true});
    document.addEventListener('load', soon, true);  // an image finished decoding: no DOM change
    check();
}"""
)

IDLE_JS = """() => {
    const app = document.querySelector('[data-testid=stApp]');
    const state = app ? app.getAttribute('data-test-script-state') : 'initial';
    return state === 'notRunning' && document.querySelectorAll('[data-testid=stSpinner]').length === 0;
}"""


# --- the server ------------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class MemoryWatch:
    """Peak resident memory of a process and its children, sampled every 0.2 s in a thread."""

    def __init__(self, pid: int) -> None:
        self.pid, self.peak_mb, self._stop = pid, 0.0, threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            self.peak_mb = max(self.peak_mb, _tree_rss_mb(self.pid))
            self._stop.wait(0.2)

    def reset(self) -> None:
        self.peak_mb = _tree_rss_mb(self.pid)

    def stop(self) -> None:
        self._stop.set()


def _tree_rss_mb(pid: int) -> float:
    total = 0.0
    for p in [pid, *_children(pid)]:
        try:
            with open(f"/proc/{p}/status") as f:
                total += next(int(line.split()[1]) for line in f if line.startswith("VmRSS:")) / 1024
        except (OSError, StopIteration):
            pass
    return total


def _children(pid: int) -> list[int]:
    try:
        with open(f"/proc/{pid}/task/{pid}/children") as f:
            kids = [int(p) for p in f.read().split()]
    except OSError:
        return []
    return kids + [grandchild for kid in kids for grandchild in _children(kid)]


@contextmanager
def app_server(models: str, port: int, runs_dir: Path):
    """`streamlit run app.py` on `port` with `models` preset; yields (url, MemoryWatch)."""
    port = port or free_port()
    env = dict(
        os.environ,
        HF_HUB_OFFLINE="1",
        VITDEMO_MODELS=models,
        VITDEMO_RUNS_DIR=str(runs_dir),
        VITDEMO_TIMING_LOG=str(timing_log(runs_dir)),
    )
    command = [sys.executable, "-m", "streamlit", "run", "app.py", f"--server.port={port}",
               "--server.headless=true", "--server.fileWatcherType=none",
               "--browser.gatherUsageStats=false"]  # fmt: skip
    log_path = runs_dir.parent / f"streamlit-{port}.log"
    with open(log_path, "w") as log:
        process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
                                   start_new_session=True)  # fmt: skip
        url = f"http://127.0.0.1:{port}"
        watch = MemoryWatch(process.pid)
        try:
            _wait_healthy(url, process, log_path)
            yield url, watch
        finally:
            watch.stop()
            os.killpg(process.pid, signal.SIGTERM)  # the server and whatever it started in its group
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
            errors = [
                line for line in log_path.read_text().splitlines() if "Error" in line or "Traceback" in line
            ]
            if errors:
                print(f"server log ({log_path.name}): " + " / ".join(errors[-5:]), file=sys.stderr)


def timing_log(runs_dir: Path) -> Path:
    """Where the server writes its per-session timestamps (`vitdemo.ui.timing`)."""
    return runs_dir.parent / "server-timing.jsonl"


def server_times(runs_dir: Path, results: list[dict], models: int) -> None:
    """Add to each student the server's own times from its upload: prediction done, top-3 and tiles
    handed to Streamlit, explanation start/end (the slowest model), from the server's timing log."""
    path = timing_log(runs_dir)
    events: dict[tuple[str, str], list[float]] = {}
    sessions: dict[str, str] = {}  # digest → the session that showed it
    starts: dict[str, list[float]] = {}  # session → its script runs' start times
    for line in path.read_text().splitlines() if path.is_file() else []:
        row = json.loads(line)
        if row["digest"]:
            events.setdefault((row["digest"], row["event"]), []).append(row["t"])
            sessions.setdefault(row["digest"], row["session"])
        elif row["event"] == "app_start":
            starts.setdefault(row["session"], []).append(row["t"])
    for r in results:
        received = _received(r, starts.get(sessions.get(r["digest"], ""), []))
        for event in ("predicted", "top3", "explain_start", "explain_end", "tiles"):
            times = events.get((r["digest"], event), [])
            # The first time each model reached the event, the slowest model counts.
            firsts = sorted(times)[:models]
            done = len(firsts) == models and received is not None
            r[f"server_{event}_s"] = round(max(firsts) - received, 3) if done else None


def _received(result: dict, session_starts: list[float]) -> float | None:
    """When the server had the student's file (wall clock): the browser's own delay in sending it is
    not the server's (twenty tabs of one Chromium on two cores take seconds to do so).

    Playwright's "request finished" event, or the start of the script run the upload caused when
    that came first: a loaded harness can see the event late, and the server cannot start that
    run before it has the file.
    """
    candidates = [t for t in session_starts if t >= result["upload_t"]][:1]
    if result.get("upload_done_s") is not None:
        candidates.append(result["upload_t"] + result["upload_done_s"])
    return min(candidates) if candidates else None


def _wait_healthy(url: str, process: subprocess.Popen, log_path: Path) -> None:
    deadline = time.monotonic() + 120
    while True:
        try:
            with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as response:
                if response.read() == b"ok":
                    return
        except OSError:
            pass
        if process.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError(f"the app did not start: {log_path.read_text()[-2000:]}")
        time.sleep(0.5)


# --- images and what the tabs must show ----------------------------------------------------------


def held_out_pngs(count: int, start: int, folder: Path) -> list[Path]:
    """`count` different test-split Shapes images (cluttered, as students' pictures are) as PNG files."""
    from PIL import Image

    from vitdemo.data.shapes import SPLIT_SEEDS, render_shape

    paths = []
    for index in range(start, start + count):
        path = folder / f"student-{index}.png"
        Image.fromarray(render_shape(SPLIT_SEEDS["test"], index).image).save(path)
        paths.append(path)
    return paths


def expected_top1(models: str, paths: list[Path]) -> dict[Path, list[str]]:
    """Each image's top-1 per model, as `vitdemo.predict` computes it here (the cross-talk oracle)."""
    import torch

    import vitdemo
    from vitdemo.ui.texts import short_label

    torch.set_num_threads(1)  # the server is busy enough
    loaded = [vitdemo.load_model(spec, device="cpu") for spec in models.split(",")]
    images = [vitdemo.load_image(path) for path in paths]
    per_model = [vitdemo.predict(model, images, top_k=1) for model in loaded]
    return {path: [short_label(scores[i][0].label) for scores in per_model] for i, path in enumerate(paths)}


def digest_key(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()[:12]


# --- one class at once -----------------------------------------------------------------------------


async def open_tab(browser, url: str, page_path: str = "", heading: str = "Explore", timeout_s: float = 240):
    """A new browser context (a new session) on `page_path`; returns (context, page, seconds to idle)."""
    context = await browser.new_context(viewport={"width": 1400, "height": 1800})
    page = await context.new_page()
    start = time.perf_counter()
    await page.goto(f"{url}/{page_path}", timeout=timeout_s * 1000)
    await page.get_by_role("heading", name=heading).first.wait_for(timeout=timeout_s * 1000)
    await wait_idle(page, timeout_s)
    return context, page, time.perf_counter() - start


async def wait_idle(page, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    quiet = 0
    while quiet < 2:
        quiet = quiet + 1 if await page.evaluate(IDLE_JS) else 0
        if time.monotonic() > deadline:
            raise TimeoutError("the page kept running")
        await asyncio.sleep(POLL_S)


async def student(page, path: Path, models: int, timeout_s: float) -> dict:
    """Upload `path`; seconds until the top-3 and until all maps are visible, the top guesses, or the error."""
    key = digest_key(path)
    out: dict = {"image": path.name, "digest": key, "top3_s": None, "caption_s": None, "maps_s": None,
                 "guesses": None, "error": None, "upload_t": time.time()}  # fmt: skip
    # When the browser sent the file and when the server took it (debug output; a loaded browser
    # can take seconds before it even sends the upload).
    upload = {}
    page.on("request", lambda r: "upload_file" in r.url and upload.setdefault("sent", time.perf_counter()))
    page.on(
        "requestfinished", lambda r: "upload_file" in r.url and upload.setdefault("done", time.perf_counter())
    )
    try:
        await page.evaluate(WATCH_JS, [key, models, TILES_PER_MODEL])
        epoch = out["upload_t"] = time.time()  # the watcher's times are wall-clock ms since the epoch
        start = time.perf_counter()
        # The same patience as every other step (Playwright's own default is 30 s): thirty tabs of
        # one Chromium on two cores can take longer than that just to accept the file, and that is
        # this harness's browser, not a student's laptop or the app.
        await page.locator("[data-testid=stSidebar] input[type=file]").set_input_files(
            str(path), timeout=timeout_s * 1000
        )
        out["input_set_s"] = time.perf_counter() - start
        while True:
            seen = await page.evaluate("() => window.__vitdemoSeen")
            since = {
                k: seen[k] / 1000 - epoch for k in ("top3", "maps", "caption") if seen.get(k) is not None
            }
            if seen.get("error"):
                out["error"] = seen["error"][:300]
                break
            if "maps" in since:
                out["top3_s"], out["maps_s"] = since["top3"], since["maps"]
                out["caption_s"], out["guesses"] = since.get("caption"), seen["guesses"]
                break
            if time.perf_counter() - start > timeout_s:
                out["error"] = f"timed out after {timeout_s:.0f} s"
                break
            await asyncio.sleep(POLL_S)
        out["upload_sent_s"] = upload["sent"] - start if "sent" in upload else None
        out["upload_done_s"] = upload["done"] - start if "done" in upload else None
    except Exception as err:  # a crashed tab is a failure to report, not a reason to stop
        out["error"] = f"{type(err).__name__}: {str(err)[:200]}"
    return out


def spread(values: list[float]) -> dict:
    if not values:
        return {"median": None, "p95": None, "max": None}
    ordered = sorted(values)
    p95 = ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]
    return {
        "median": round(statistics.median(ordered), 2),
        "p95": round(p95, 2),
        "max": round(ordered[-1], 2),
    }


async def one_class(browser, url, watch, paths: list[Path], expected, models: int, args, runs_dir: Path):
    """N tabs load Explore, then upload at once; the figures for this N."""
    opened = await asyncio.gather(*(open_tab(browser, url, timeout_s=args.timeout_s) for _ in paths),
                                  return_exceptions=True)  # fmt: skip
    tabs = [t for t in opened if not isinstance(t, BaseException)]
    load_failures = len(opened) - len(tabs)
    watch.reset()
    results = await asyncio.gather(
        *(
            student(page, path, models, args.timeout_s)
            for (_, page, _), path in zip(tabs, paths, strict=False)
        )
    )
    for context, _, _ in tabs:
        await context.close()
    server_times(runs_dir, results, models)
    if os.environ.get("CLASSROOM_DEBUG"):  # a folder: keep the server's timing log there
        shutil.copy(timing_log(runs_dir), Path(os.environ["CLASSROOM_DEBUG"]) / f"timing-{len(paths)}.jsonl")
        for r in results:
            print(json.dumps({k: v for k, v in r.items() if k != "upload_t"}), file=sys.stderr)
    done = [r for r in results if r["error"] is None]
    own = {path.name: expected[path] for path in paths}
    crossed = [
        {"image": r["image"], "shown": r["guesses"], "predict": own[r["image"]]}
        for r in done
        if r["guesses"] != own[r["image"]]
    ]
    return {
        "students": len(paths),
        "page_load_s": spread([t[2] for t in tabs]),
        "top3_s": spread([r["top3_s"] for r in done]),
        "maps_s": spread([r["maps_s"] for r in done]),
        "caption_s": spread([r["caption_s"] for r in done if r["caption_s"] is not None]),
        # Until the browser had sent the file (a loaded browser's delay, the same for any server).
        "upload_s": spread([r["upload_done_s"] for r in done if r.get("upload_done_s") is not None]),
        # The server's own answer time: file received → elements handed to Streamlit.
        "server_top3_s": spread([r["server_top3_s"] for r in done if r["server_top3_s"] is not None]),
        "server_maps_s": spread([r["server_tiles_s"] for r in done if r["server_tiles_s"] is not None]),
        "failures": load_failures + len(results) - len(done),
        "errors": sorted({r["error"] for r in results if r["error"]})[:5],
        "cross_talk": crossed,
        "server_peak_rss_mb": round(watch.peak_mb, 1),
    }


def solo_summary(rounds: list[dict]) -> dict:
    """One student at a time, `--solo-rounds` times (a fresh tab each): the spread over the rounds."""
    keys = ("top3_s", "maps_s", "upload_s", "server_top3_s", "server_maps_s")
    return {
        "rounds": len(rounds),
        "failures": sum(r["failures"] for r in rounds),
        "cross_talk": [c for r in rounds for c in r["cross_talk"]],
    } | {key: spread([r[key]["median"] for r in rounds if r[key]["median"] is not None]) for key in keys}


async def explore_phase(models: str, ns: list[int], args, folder: Path, first_index: int) -> dict:
    from playwright.async_api import async_playwright

    count = len(models.split(","))
    batches, index = [], first_index
    for n in [*ns, *[1] * args.solo_rounds]:
        batches.append(held_out_pngs(n, index, folder))
        index += n
    expected = expected_top1(models, [p for batch in batches for p in batch])
    out = {}
    with app_server(models, args.port, folder / "runs") as (url, watch):
        async with async_playwright() as playwright:
            browser = await playwright.chromium.launch(**launch_args(args))
            try:
                # A first visitor loads the models and the page (a server that just started).
                context, _, first_load = await open_tab(browser, url, timeout_s=args.timeout_s)
                await context.close()
                out["first_visit_s"] = round(first_load, 2)
                for n, paths in zip(ns, batches, strict=False):
                    out[str(n)] = await one_class(
                        browser, url, watch, paths, expected, count, args, folder / "runs"
                    )
                    print(f"[{models}] N={n}: {json.dumps(out[str(n)])}", file=sys.stderr, flush=True)
                if args.solo_rounds:
                    solo = [
                        await one_class(browser, url, watch, paths, expected, count, args, folder / "runs")
                        for paths in batches[len(ns) :]
                    ]
                    out["solo"] = solo_summary(solo)
                    print(f"[{models}] solo: {json.dumps(out['solo'])}", file=sys.stderr, flush=True)
            finally:
                await browser.close()
        out["server_peak_rss_mb"] = round(watch.peak_mb, 1)
    return out


def cpu_seconds(pids: list[int]) -> float:
    """User + system CPU seconds used so far by these processes (all their threads)."""
    total = 0.0
    for pid in pids:
        with suppress(OSError, IndexError, ValueError):
            with open(f"/proc/{pid}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
            total += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return total


def browser_pids() -> list[int]:
    """Every Chromium process on the machine (the harness's browser: the only one running)."""
    pids = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            with suppress(OSError), open(f"/proc/{entry}/cmdline", "rb") as f:
                # Chromium's helpers rewrite their command line into one string: its first word.
                if f.read().split(b"\0")[0].split(b" ")[0].endswith(b"chromium"):
                    pids.append(int(entry))
    return pids


# How the harness's Chromium is started: at the server's priority, at nice 19, or in the idle
# scheduling class (it runs only when nothing else wants a core and never preempts).
BROWSER_PRIORITIES = {"normal": [], "low": ["nice", "-n", "19"], "idle": ["chrt", "--idle", "0"]}


def launch_args(args) -> dict:
    """Playwright's launch arguments: Debian's Chromium, at `--browser-priority`.

    The harness's browser shares the two cores with the server; on a real class every student's
    tab runs on their own laptop. At "low" or "idle" the browser mostly takes what the server and
    the run leave, which is nearer to that; its own times (upload, drawing) grow instead.
    """
    prefix = BROWSER_PRIORITIES[args.browser_priority]
    if not prefix:
        return {"executable_path": CHROMIUM, "args": CHROMIUM_ARGS}
    wrapper = Path(tempfile.mkdtemp(prefix="chromium-")) / "chromium"
    wrapper.write_text(f'#!/bin/sh\nexec {" ".join(prefix)} {CHROMIUM} "$@"\n')
    wrapper.chmod(0o755)
    return {"executable_path": str(wrapper), "args": CHROMIUM_ARGS}


# --- fine-tuning watched by tabs -------------------------------------------------------------------


def steps_done(runs_dir: Path) -> tuple[int, dict | None]:
    """Training steps logged so far by the newest run, and its status."""
    runs = sorted(
        (p for p in runs_dir.glob("*") if (p / "status.json").is_file()), key=lambda p: p.stat().st_mtime
    )
    if not runs:
        return 0, None
    run = runs[-1]
    metrics = run / "metrics.jsonl"
    steps = metrics.read_text().count('"kind": "step"') if metrics.is_file() else 0
    try:
        status = json.loads((run / "status.json").read_text())
    except (OSError, json.JSONDecodeError):
        status = None
    return steps, status


async def start_full_run(page, epochs: int) -> None:
    """On the Fine-tune page: demo-resnet, every weight learns, `epochs` epochs, Start."""
    main = page.locator("[data-testid=stMain]")
    await main.locator("[data-testid=stSelectbox]").filter(has_text="Start from model").click()
    await page.get_by_role("option", name=re.compile(r"^demo-resnet")).first.click()
    await wait_idle(page, 60)
    await main.get_by_text("full", exact=True).click()
    await wait_idle(page, 60)
    await main.get_by_text("Hyper-parameters").click()
    epochs_box = main.get_by_label("Epochs", exact=True)
    await epochs_box.fill(str(epochs))
    await epochs_box.press("Enter")
    await wait_idle(page, 60)
    await main.get_by_role("button", name="Start fine-tuning").click()


async def seconds_per_step(runs_dir: Path, window_s: float, server_pid: int) -> dict:
    """Training speed over one window, and how many cores the server, the run and the browser used."""
    worker = (steps_done(runs_dir)[1] or {}).get("pid")
    groups = {"server": [server_pid], "run": [int(worker)] if worker else [], "browser": browser_pids()}
    before = {name: cpu_seconds(pids) for name, pids in groups.items()}
    steps0, _ = steps_done(runs_dir)
    start = time.perf_counter()
    await asyncio.sleep(window_s)
    steps1, status = steps_done(runs_dir)
    elapsed = time.perf_counter() - start
    done = steps1 - steps0
    return {
        "steps": done,
        "s_per_step": round(elapsed / done, 3) if done else None,
        "state": (status or {}).get("state"),
        # Cores in use on average: the server's own threads (not its children), the run's worker
        # process, and every Chromium process of the harness.
        "cores": {name: round((cpu_seconds(groups[name]) - before[name]) / elapsed, 2) for name in groups},
    }


async def finetune_phase(args, folder: Path) -> dict:
    from playwright.async_api import async_playwright

    runs_dir = folder / "finetune-runs"
    runs_dir.mkdir(exist_ok=True)
    out: dict = {"model": "demo-resnet", "mode": "full"}
    with app_server(DEMO_MODELS, args.port, runs_dir) as (url, watch):
        async with async_playwright() as playwright:
            browser = await playwright.chromium.launch(**launch_args(args))
            try:
                context, page, _ = await open_tab(browser, url, "Fine-tune", "Fine-tune", args.timeout_s)
                await start_full_run(page, epochs=args.epochs)
                deadline = time.monotonic() + 180
                while steps_done(runs_dir)[0] < 3:  # started and warm
                    if time.monotonic() > deadline:
                        raise RuntimeError(f"the run did not start: {steps_done(runs_dir)[1]}")
                    await asyncio.sleep(1)
                await context.close()  # nobody watches now
                watchers: list = []
                for count in args.watchers:
                    while len(watchers) < count:
                        watchers.append(
                            await open_tab(browser, url, "Fine-tune", "Fine-tune", args.timeout_s)
                        )
                    # Watching, not loading: a new tab keeps drawing (charts, fonts) for seconds
                    # after its script went idle, and the load is measured on its own below.
                    await asyncio.sleep(args.settle_s)
                    out[f"watched_by_{count}"] = await seconds_per_step(runs_dir, args.window_s, watch.pid)
                    print(
                        f"finetune watched by {count}: {out[f'watched_by_{count}']}",
                        file=sys.stderr,
                        flush=True,
                    )
                extra = await open_tab(browser, url, "Fine-tune", "Fine-tune", args.timeout_s)
                out["one_more_tab_load_s"] = round(extra[2], 2)
                for context, _, _ in [*watchers, extra]:
                    await context.close()
            finally:
                await browser.close()
                _stop_worker(runs_dir)
        out["server_peak_rss_mb"] = round(watch.peak_mb, 1)
    unwatched = out.get("watched_by_0", {}).get("s_per_step")
    most = out.get(f"watched_by_{max(args.watchers)}", {}).get("s_per_step")
    if unwatched and most:
        out["speed_watched_vs_unwatched"] = round(unwatched / most, 2)
    return out


def _stop_worker(runs_dir: Path) -> None:
    """Stop the run's worker process if it lives outside the server (it would outlive it by design)."""
    _, status = steps_done(runs_dir)
    pid = (status or {}).get("pid")
    if pid and pid != os.getpid():
        with suppress(OSError, ValueError):
            os.kill(int(pid), signal.SIGTERM)


# --- main ---------------------------------------------------------------------------------------


def numbers(text: str) -> list[int]:
    return [int(v) for v in text.split(",") if v.strip()]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--ns", type=numbers, default=[1, 10, 20, 30], help="students at once, per round")
    parser.add_argument("--phases", default="explore,random,finetune", help="explore, random, finetune")
    parser.add_argument(
        "--solo-rounds",
        type=int,
        default=0,
        help="then one student at a time this many times, a fresh tab each (the spread at N = 1)",
    )
    parser.add_argument(
        "--random-ns", type=numbers, default=[1, 10], help="students for vit@random+resnet@random"
    )
    parser.add_argument(
        "--watchers", type=numbers, default=[0, 1, 5], help="tabs watching the run, per window"
    )
    parser.add_argument("--window-s", type=float, default=30.0, help="seconds per watching window")
    parser.add_argument(
        "--settle-s", type=float, default=10.0, help="seconds the watching tabs settle before a window"
    )
    parser.add_argument(
        "--epochs", type=int, default=200, help="epochs of the watched run (it is stopped anyway)"
    )
    parser.add_argument(
        "--browser-priority",
        choices=sorted(BROWSER_PRIORITIES),
        default="normal",
        help="the harness's Chromium: normal, low (nice 19) or idle (SCHED_IDLE)",
    )
    parser.add_argument("--port", type=int, default=0, help="app port (0: a free one)")
    parser.add_argument(
        "--timeout-s", type=float, default=240.0, help="a student waiting longer is a failure"
    )
    args = parser.parse_args()
    phases = [p.strip() for p in args.phases.split(",") if p.strip()]
    result: dict = {
        "benchmark": "classroom_load",
        "cpus": os.cpu_count(),
        "browser_priority": args.browser_priority,
        "load_avg_start": os.getloadavg(),
    }
    with tempfile.TemporaryDirectory(prefix="classroom-") as tmp:
        folder = Path(tmp)
        runs = {
            "demo": lambda: explore_phase(DEMO_MODELS, args.ns, args, folder, FIRST_HELD_OUT),
            "random": lambda: explore_phase(
                RANDOM_MODELS, args.random_ns, args, folder, FIRST_HELD_OUT + 1000
            ),
            "finetune": lambda: finetune_phase(args, folder),
        }
        for name, phase in runs.items():
            if {"demo": "explore"}.get(name, name) not in phases:
                continue
            try:
                result[name] = asyncio.run(phase())
            except Exception as err:  # one phase failing must not lose the others' figures
                result[name] = {"error": f"{type(err).__name__}: {str(err)[:300]}"}
    result["load_avg_end"] = os.getloadavg()
    print(json.dumps(result))


if __name__ == "__main__":
    main()
