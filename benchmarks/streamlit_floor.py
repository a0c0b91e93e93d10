"""Benchmark: the floor of `classroom_load.py`'s harness — N tabs of a trivial Streamlit page.

`classroom_load.py` opens N browser contexts in one headless Chromium on the same cores as the
server. How much of a class's wait is that browser, whatever the app does? This starts a
Streamlit page with almost nothing on it (a title, a sidebar uploader; per upload one line, three
progress bars and a caption, no model), opens N tabs, uploads a different small PNG in each at
once and reports, per N: seconds for all tabs to load, upload → caption visible (median / max),
and the CPU-seconds Chromium and the server used for each part. Anything the real app shows above
these figures is the app's; these figures themselves are the harness's.

A benchmark, not a test (CI does not run it).

Usage:
  python benchmarks/streamlit_floor.py [--ns 5,20] [--timeout-s 300]
Prints one JSON line.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(Path(__file__).resolve().parent))

from classroom_load import (  # noqa: E402
    CHROMIUM,
    CHROMIUM_ARGS,
    _children,
    _wait_healthy,
    browser_pids,
    cpu_seconds,
    free_port,
)

TRIVIAL_APP = """
import streamlit as st
st.title("Floor")
with st.sidebar:
    files = st.file_uploader("Upload images", accept_multiple_files=True)
for f in files or []:
    st.write("got", f.name, len(f.getvalue()))
    st.progress(0.5)
    st.progress(0.3)
    st.progress(0.1)
    st.caption(f"Top guess: {f.name}")
"""


def small_pngs(count: int, folder: Path) -> list[Path]:
    from PIL import Image

    paths = []
    for i in range(count):
        path = folder / f"tab-{i}.png"
        Image.new("RGB", (224, 224), (i * 7 % 256, 90, 160)).save(path)
        paths.append(path)
    return paths


async def one_round(browser, url: str, server_pid: int, paths: list[Path], timeout_s: float) -> dict:
    contexts = [await browser.new_context() for _ in paths]
    pages = [await context.new_page() for context in contexts]
    server = [server_pid, *_children(server_pid)]
    chrome0, server0, start = cpu_seconds(browser_pids()), cpu_seconds(server), time.perf_counter()
    await asyncio.gather(*[page.goto(url, timeout=timeout_s * 1000) for page in pages])
    await asyncio.gather(
        *[
            page.get_by_role("heading", name="Floor").first.wait_for(timeout=timeout_s * 1000)
            for page in pages
        ]
    )
    load_s = time.perf_counter() - start
    await asyncio.sleep(3)  # let the tabs go quiet before the uploads
    chrome1, server1 = cpu_seconds(browser_pids()), cpu_seconds(server)

    async def upload(page, path: Path) -> float:
        begin = time.perf_counter()
        await page.locator("input[type=file]").set_input_files(str(path), timeout=timeout_s * 1000)
        await page.get_by_text(f"Top guess: {path.name}").first.wait_for(timeout=timeout_s * 1000)
        return time.perf_counter() - begin

    waits = sorted(
        await asyncio.gather(*[upload(page, path) for page, path in zip(pages, paths, strict=True)])
    )
    chrome2, server2 = cpu_seconds(browser_pids()), cpu_seconds(server)
    for context in contexts:
        await context.close()
    return {
        "tabs": len(paths),
        "load_all_s": round(load_s, 2),
        "load_cpu_s": {"chromium": round(chrome1 - chrome0, 1), "server": round(server1 - server0, 1)},
        "upload_to_visible_s": {"median": round(statistics.median(waits), 2), "max": round(waits[-1], 2)},
        "upload_cpu_s": {"chromium": round(chrome2 - chrome1, 1), "server": round(server2 - server1, 1)},
    }


async def run(ns: list[int], timeout_s: float) -> dict:
    from playwright.async_api import async_playwright

    folder = Path(tempfile.mkdtemp(prefix="streamlit-floor-"))
    app = folder / "floor.py"
    app.write_text(TRIVIAL_APP)
    port = free_port()
    command = [sys.executable, "-m", "streamlit", "run", str(app), f"--server.port={port}",
               "--server.headless=true", "--browser.gatherUsageStats=false"]  # fmt: skip
    log_path = folder / "streamlit.log"
    with open(log_path, "w") as log:
        server = subprocess.Popen(command, cwd=folder, stdout=log, stderr=subprocess.STDOUT)
    out: dict = {"benchmark": "streamlit_floor", "cpus": os.cpu_count(), "load_avg_start": os.getloadavg()}
    try:
        url = f"http://127.0.0.1:{port}"
        _wait_healthy(url, server, log_path)
        async with async_playwright() as playwright:
            browser = await playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            try:
                for n in ns:
                    out[str(n)] = await one_round(browser, url, server.pid, small_pngs(n, folder), timeout_s)
                    print(f"N={n}: {json.dumps(out[str(n)])}", file=sys.stderr, flush=True)
            finally:
                await browser.close()
    finally:
        server.terminate()
        server.wait(timeout=20)
    out["load_avg_end"] = os.getloadavg()
    return out


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--ns", default="5,20", help="tabs at once, per round (comma-separated)")
    parser.add_argument("--timeout-s", type=float, default=300.0, help="patience for every browser step")
    args = parser.parse_args()
    ns = [int(n) for n in args.ns.split(",") if n.strip()]
    print(json.dumps(asyncio.run(run(ns, args.timeout_s))))


if __name__ == "__main__":
    main()
