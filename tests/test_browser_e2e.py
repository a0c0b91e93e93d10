"""End to end in a real headless Chromium: the Dockerfile's own command serves the app, a person
uploads a Shapes image through the file chooser, reads the predictions and maps, opens the
Attention page, sees the layer × head grid and clicks a patch to query it; the browser fetches
nothing from anywhere but the app (offline classrooms).

Uses Debian's /usr/bin/chromium through Playwright (never Playwright's own browser download).
Screenshots go to artifacts/browser/ (or $VITDEMO_ARTIFACTS_DIR) for a person to look at.
"""

from __future__ import annotations

import os
import re
import shlex
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from vitdemo.data.shapes import render_shape

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]
BUNDLED = ROOT / "vitdemo" / "models" / "bundled"

pytestmark = [
    pytest.mark.browser,
    pytest.mark.slow,
    pytest.mark.skipif(
        not CHROMIUM.exists(),
        reason="needs Debian's chromium at /usr/bin/chromium (apt-get install chromium)",
    ),
]


def dockerfile_command(port: int) -> list[str]:
    """The CMD of the Dockerfile, with the port swapped for a free one."""
    text = (ROOT / "Dockerfile").read_text()
    match = re.search(r"^CMD\s+(\[.*?\])\s*$", text.replace("\\\n", " "), re.MULTILINE | re.DOTALL)
    assert match, "the Dockerfile has no exec-form CMD"
    words = [w.strip().strip('"') for w in match.group(1).strip("[]").split(",")]
    return [w.replace("--server.port=8501", f"--server.port={port}") for w in words]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def demo_or_tiny_models(tiny_vit_dir: Path, tiny_resnet_dir: Path) -> str:
    """The bundled demo models when this checkout has them (the real thing), else the tiny test models."""
    if all((BUNDLED / name / "vitdemo.json").is_file() for name in ("demo-vit", "demo-resnet")):
        return "demo-vit,demo-resnet"
    return f"{tiny_vit_dir},{tiny_resnet_dir}"


@pytest.fixture
def server(tmp_path, tiny_vit_dir, tiny_resnet_dir):
    """`streamlit run app.py ...` exactly as the Dockerfile runs it, on a free port; yields the URL."""
    port = free_port()
    command = dockerfile_command(port)
    assert command[:3] == ["streamlit", "run", "app.py"], command
    env = dict(
        os.environ, HF_HUB_OFFLINE="1", VITDEMO_MODELS=demo_or_tiny_models(tiny_vit_dir, tiny_resnet_dir)
    )
    log = (tmp_path / "streamlit.log").open("w")
    # `python -m streamlit` is the venv's `streamlit` script, whatever is first on PATH.
    process = subprocess.Popen(
        [sys.executable, "-m", *command], cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as response:
                    if response.read() == b"ok":
                        break
            except OSError:
                pass
            if process.poll() is not None or time.monotonic() > deadline:
                pytest.fail(
                    f"streamlit did not become healthy: {shlex.join(command)}\n{(tmp_path / 'streamlit.log').read_text()}"
                )
            time.sleep(0.5)
        yield url
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
        log.close()


@pytest.fixture
def artifacts() -> Path:
    out = Path(os.environ.get("VITDEMO_ARTIFACTS_DIR", ROOT / "artifacts" / "browser"))
    out.mkdir(parents=True, exist_ok=True)
    return out


def wait_until_idle(page, timeout_s: float = 240) -> None:
    """Until the script has finished and no spinner is left, for a few polls in a row."""
    quiet, deadline = 0, time.monotonic() + timeout_s
    while quiet < 4:
        busy = page.evaluate(
            """() => {
                const app = document.querySelector('[data-testid=stApp]');
                const state = app ? app.getAttribute('data-test-script-state') : 'initial';
                return state !== 'notRunning' || document.querySelectorAll('[data-testid=stSpinner]').length > 0;
            }"""
        )
        quiet = 0 if busy else quiet + 1
        assert time.monotonic() < deadline, "the app kept running"
        page.wait_for_timeout(500)


def test_upload_explore_then_attention_in_a_real_browser(server, artifacts, tmp_path):
    sync_api = pytest.importorskip(
        "playwright.sync_api", reason="needs Playwright for Python (requirements-dev.txt)"
    )
    from PIL import Image

    upload = tmp_path / "my-star.png"
    Image.fromarray(render_shape(2, 3).image).save(upload)  # index 3: a star

    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1440, "height": 2200})
            # Offline means offline: nothing may be fetched from anywhere but the app (no font CDN favicon).
            elsewhere: list[str] = []
            page.on(
                "request",
                lambda r: None if r.url.startswith((server, "data:", "blob:")) else elsewhere.append(r.url),
            )
            page.goto(server)
            page.get_by_role("heading", name="Explore").wait_for(timeout=120_000)
            wait_until_idle(page)

            with page.expect_file_chooser() as chooser:
                page.get_by_role("button", name="Upload", exact=True).click()
            chooser.value.set_files(str(upload))
            page.get_by_role("heading", name="my-star.png").wait_for(timeout=120_000)
            wait_until_idle(page)
            page.screenshot(path=str(artifacts / "explore.png"))

            main = page.locator("[data-testid=stMain]")
            assert main.get_by_text("Something went wrong").count() == 0
            # The bordered block of the uploaded image: the nearest vertical block around its heading.
            heading = page.get_by_role("heading", name="my-star.png")
            block = heading.locator("xpath=ancestor::div[@data-testid='stVerticalBlock'][1]")
            # Two models → two top-3s of three bars each, a percentage on every bar, the explained
            # (top-1) class marked on the first bar of each.
            bar_texts = block.locator("[data-testid=stProgress]").all_text_contents()
            assert len(bar_texts) == 6 and all(re.search(r"\d+\.\d%", t) for t in bar_texts)
            assert [t.endswith("← the maps") for t in bar_texts] == [True, False, False] * 2
            # Input view + four map tiles per model, all decoded by the browser.
            images = block.locator("[data-testid=stImage] img")
            assert images.count() == 10
            assert all(
                images.nth(i).evaluate("img => img.complete && img.naturalWidth > 0") for i in range(10)
            )

            page.get_by_role("link", name="Attention").click()
            page.get_by_role("heading", name="Every layer and head").wait_for(timeout=120_000)
            wait_until_idle(page)
            ticks = main.locator(".js-plotly-plot").last.locator("text").all_text_contents()
            assert "layer 1" in ticks and "head 1" in ticks

            # Click a patch on the query picker: the page now shows what that patch attends to.
            picker = main.locator(".js-plotly-plot").first
            box = picker.bounding_box()
            page.mouse.click(box["x"] + box["width"] * 0.2, box["y"] + box["height"] * 0.8)
            page.get_by_text(re.compile(r"Showing what patch row \d+, column \d+ attends to")).wait_for(
                timeout=60_000
            )
            wait_until_idle(page)
            page.screenshot(path=str(artifacts / "attention.png"))
            assert main.get_by_text("Something went wrong").count() == 0
            assert elsewhere == []
        finally:
            browser.close()
