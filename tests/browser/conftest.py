"""Browser tests: the Prompt Templates tab hosted in a plain gradio app (tests/browser/app.py) with placeholder images,
driven by Playwright for Python and the system's Chromium.

Needs, once per machine (no `playwright install`: its browser downloads are not used):

    apt-get install -y chromium          # /usr/bin/chromium
    python -m pip install playwright     # in the venv that runs pytest; gradio comes from that venv too

Run: `python -m pytest tests/browser -q` (or `-m browser`). Skipped, with the reason, without either.
Screenshots of the key steps go to tests/browser/screenshots/ (ignored by git).
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Page

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
APP = HERE / "app.py"
SCREENSHOTS = HERE / "screenshots"
CHROMIUM = Path("/usr/bin/chromium")
# Without the background-networking flags Chromium keeps calling Google services, which a closed network refuses.
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
START_TIMEOUT = 90.0  # seconds for the app to answer; gradio's import alone takes several
STOP_TIMEOUT = 10.0
ACTION_TIMEOUT_MS = 30_000  # Playwright actions and navigation
EXPECT_TIMEOUT_MS = 20_000  # expect(...) assertions: server round trips through gradio's queue
GRADIO_MAJOR = importlib.metadata.version("gradio").split(".")[0]


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "browser: drives the Prompt Templates tab in a plain gradio app with Playwright and /usr/bin/chromium; "
        "skipped without them",
    )


@dataclass(frozen=True)
class PlainApp:
    url: str
    library_dir: Path
    log: Path

    @property
    def library_file(self) -> Path:
        """The app's SQLite library, which it creates on start (app.py's LIBRARY_FILE; the jobs' files are beside
        it)."""
        return self.library_dir / "templates.sqlite3"


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def log_tail(log: Path, lines: int = 40) -> str:
    try:
        return "\n".join(log.read_text(encoding="utf-8", errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


def wait_until_up(url: str, process: subprocess.Popen[bytes], log: Path, timeout: float = START_TIMEOUT) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the plain gradio app exited with {process.returncode}:\n{log_tail(log)}")
        try:
            with urllib.request.urlopen(url, timeout=5) as response:
                if response.status == 200:
                    return
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            pass
        time.sleep(0.5)
    raise RuntimeError(f"the plain gradio app did not answer at {url} within {timeout:.0f} s:\n{log_tail(log)}")


def stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is not None:
        return
    process.terminate()
    try:
        process.wait(STOP_TIMEOUT)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(STOP_TIMEOUT)


@pytest.fixture(scope="session")
def browser_requirements() -> None:
    if importlib.util.find_spec("playwright") is None:
        pytest.skip("browser tests need the playwright package: python -m pip install playwright")
    if not CHROMIUM.is_file():
        pytest.skip(f"browser tests need Chromium at {CHROMIUM}: apt-get install -y chromium")


@pytest.fixture(scope="session")
def plain_app(browser_requirements: None, tmp_path_factory: pytest.TempPathFactory) -> Iterator[PlainApp]:
    """tests/browser/app.py in a subprocess, on a free port, over a new library in a temporary folder."""
    root = tmp_path_factory.mktemp("plain-gradio-app")
    library_dir, log = root / "library", root / "app.log"
    port = free_port()
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(p for p in (str(REPO), os.environ.get("PYTHONPATH", "")) if p),
        "PYTHONUNBUFFERED": "1",
        "GRADIO_ANALYTICS_ENABLED": "False",
    }
    command = [sys.executable, str(APP), "--port", str(port), "--library-dir", str(library_dir)]
    with log.open("wb") as out:
        process = subprocess.Popen(command, cwd=REPO, env=env, stdout=out, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}/"
    try:
        wait_until_up(url, process, log)
    except RuntimeError as exc:
        stop(process)
        pytest.fail(str(exc))
    try:
        yield PlainApp(url, library_dir, log)
    finally:
        stop(process)


@pytest.fixture(scope="session")
def chromium(browser_requirements: None) -> Iterator[Browser]:
    from playwright.sync_api import expect, sync_playwright

    expect.set_options(timeout=EXPECT_TIMEOUT_MS)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True)
        try:
            yield browser
        finally:
            browser.close()


@pytest.fixture
def tab_page(chromium: Browser, plain_app: PlainApp) -> Iterator[Page]:
    """A fresh browser context on the app's page, loaded."""
    context = chromium.new_context(viewport={"width": 1400, "height": 1800})
    page = context.new_page()
    page.set_default_timeout(ACTION_TIMEOUT_MS)
    page.set_default_navigation_timeout(ACTION_TIMEOUT_MS)
    try:
        page.goto(plain_app.url)
        yield page
    finally:
        context.close()


@pytest.fixture
def screenshot(request: pytest.FixtureRequest) -> Callable[[Page, str], Path]:
    """screenshot(page, "step") saves tests/browser/screenshots/gradio<major>-<test, shortened>-<step>.png."""
    SCREENSHOTS.mkdir(exist_ok=True)
    prefix = f"gradio{GRADIO_MAJOR}-{request.node.name.removeprefix('test_tab_in_plain_gradio_')}"

    def take(page: Page, step: str) -> Path:
        path = SCREENSHOTS / f"{prefix}-{step}.png"
        page.screenshot(path=str(path), full_page=True)
        return path

    return take
