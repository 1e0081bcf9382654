"""The real-WebUI suite: `pytest -m webui` against a running WebUI with this extension installed.

SD_WEBUI_URL   e.g. http://127.0.0.1:7861 (required; the suite is skipped without it)
SD_WEBUI_DIR   the WebUI's data directory (its checkout, unless it runs with --data-dir)
SD_WEBUI_LOG   the file the WebUI's output goes to, to check the extension loaded cleanly (optional)
SD_WEBUI_AUTH  user:password, when the WebUI runs with --api-auth (then every route must refuse requests without)
SD_WEBUI_PEER_URL  a second WebUI on the same shared database (tests/webui/test_shared_webuis.py): a job may run on
               either, so the settings a test needs are made on both

With the tiny random-weights model, start the WebUI with --disable-nan-check: some prompts give NaNs otherwise.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.webui.client import WebUI


def pytest_collection_modifyitems(items):
    for item in items:
        if "tests/webui/" in str(item.fspath).replace(os.sep, "/"):
            item.add_marker(pytest.mark.webui)


@pytest.fixture(scope="session")
def webui_url() -> str:
    url = os.environ.get("SD_WEBUI_URL")
    if not url:
        pytest.skip("real-WebUI suite: set SD_WEBUI_URL (and SD_WEBUI_DIR) to run it")
    return url.rstrip("/")


@pytest.fixture(scope="session")
def webui(webui_url: str) -> WebUI:
    auth = os.environ.get("SD_WEBUI_AUTH") or None
    return WebUI(webui_url, tuple(auth.split(":", 1)) if auth else None)  # type: ignore[arg-type]


@pytest.fixture(scope="session")
def sharing(webui: WebUI) -> list[WebUI]:
    """Every WebUI that may run a job submitted to `webui`: itself, and the second WebUI on its shared database."""
    url = os.environ.get("SD_WEBUI_PEER_URL")
    return [webui] + ([WebUI(url.rstrip("/"), webui.auth)] if url else [])


@pytest.fixture(scope="session")
def webui_dir() -> Path:
    path = os.environ.get("SD_WEBUI_DIR")
    if not path:
        pytest.skip("real-WebUI suite: set SD_WEBUI_DIR to the WebUI's data directory")
    return Path(path)


@pytest.fixture(scope="session")
def webui_log() -> str:
    path = os.environ.get("SD_WEBUI_LOG")
    if not path:
        pytest.skip("real-WebUI suite: set SD_WEBUI_LOG to check the start-up log")
    return Path(path).read_text(encoding="utf-8", errors="replace")
