"""Helpers for real-browser tests: Debian's Chromium through Playwright, and a Streamlit server on loopback."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import pytest

ROOT = Path(__file__).resolve().parent.parent
ARTIFACTS = ROOT / "test-artifacts"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]


def require_chromium() -> None:
    """Skip with a clear reason when Debian's Chromium or Playwright's package is missing."""
    if not Path(CHROMIUM).exists():
        pytest.skip(f"{CHROMIUM} not found: `apt-get install -y chromium` (the README's test command does)")
    pytest.importorskip("playwright.sync_api", reason="pip install -r requirements-dev.txt")


@contextmanager
def chromium_browser() -> Iterator[object]:
    """A headless Chromium (Playwright Browser); `launch` gives it a fresh temporary profile. Closed afterwards."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass(frozen=True)
class Server:
    """A running Streamlit server: its base URL, process id and log file."""

    url: str
    pid: int
    log: Path

    def environment(self) -> dict[str, str]:
        """The server process's environment variables (Linux /proc)."""
        raw = Path(f"/proc/{self.pid}/environ").read_bytes()
        return dict(item.split("=", 1) for item in raw.decode(errors="replace").split("\0") if "=" in item)

    def rss_mb(self) -> float:
        """Resident memory of the server process now, in MB."""
        for line in Path(f"/proc/{self.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
        raise RuntimeError("VmRSS not found")


@contextmanager
def streamlit_server(script: str = "Home.py", timeout: float = 90.0, env: dict[str, str] | None = None) -> Iterator[Server]:
    """Run `streamlit run script` on 127.0.0.1 and a free port (app.py: `python app.py`, as the README starts it,
    which execs the same command with the allocator's settings); yields the Server once healthy."""
    port = free_port()
    ARTIFACTS.mkdir(exist_ok=True)
    log_path = ARTIFACTS / f"streamlit-{port}.log"
    launcher = [sys.executable, script] if script == "app.py" else [sys.executable, "-m", "streamlit", "run", script]
    command = [
        *launcher, "--server.address", "127.0.0.1", "--server.port", str(port),
        "--server.headless", "true", "--server.fileWatcherType", "none", "--browser.gatherUsageStats", "false",
    ]
    with open(log_path, "wb") as log:
        process = subprocess.Popen(command, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT, env={**os.environ, **(env or {})})
        base = f"http://127.0.0.1:{port}"
        try:
            deadline = time.monotonic() + timeout
            while True:
                if process.poll() is not None:
                    raise RuntimeError(f"streamlit exited early; see {log_path}:\n{log_path.read_text()[-2000:]}")
                try:
                    with urllib.request.urlopen(f"{base}/_stcore/health", timeout=2) as response:
                        if response.read().strip() == b"ok":
                            break
                except OSError:
                    pass
                if time.monotonic() > deadline:
                    raise RuntimeError(f"streamlit did not become healthy in {timeout:.0f} s; see {log_path}")
                time.sleep(0.3)
            yield Server(base, process.pid, log_path)
        finally:
            process.terminate()
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()


def wait_for_idle(page, timeout: float = 90_000) -> None:
    """Wait until the app is connected and no script run is in progress."""
    page.wait_for_selector("[data-testid='stApp'][data-test-connection-state='CONNECTED']", timeout=timeout)
    page.wait_for_selector("[data-testid='stApp'][data-test-script-state='notRunning']", timeout=timeout)


def wait_for_new_picture(page, before: str | None, timeout: float = 30_000) -> None:
    """Wait until some picture on the page has a source other than `before` (a rerun drew a new one)."""
    page.wait_for_function(
        "([sel, old]) => { const i = document.querySelectorAll(sel); return [...i].some(e => e.src && e.src !== old) }",
        arg=["[data-testid='stImage'] img", before], timeout=timeout,
    )


def go_to(page, label: str) -> None:
    """Navigate with the sidebar (keeps the session, hence the uploaded photo)."""
    page.get_by_test_id("stSidebarNavLink").filter(has_text=label).click()
    page.wait_for_url(f"**/{label.replace(' ', '_')}", timeout=30_000)
    wait_for_idle(page)


def click_download(page, button: str, attempts: int = 3):
    """Click a download button and return the download; a click that lands while the page is still
    re-rendering (after the previous widget change) can be lost, so it is retried after the page settles."""
    from playwright.sync_api import TimeoutError as PlaywrightTimeoutError  # only with the browser extras

    for attempt in range(attempts):
        try:
            with page.expect_download(timeout=30_000) as download_info:
                page.get_by_role("button", name=button).click()
            return download_info.value
        except PlaywrightTimeoutError:
            if attempt == attempts - 1:
                raise
            wait_for_idle(page)


@dataclass
class PageProblems:
    """What a page did wrong while a test drove it: script errors, and requests that left 127.0.0.1."""

    errors: list[str]
    outside: list[str]


def watch_page(page) -> PageProblems:
    """Record `page`'s script errors and every request to an address other than 127.0.0.1 (nothing may leave
    the machine; data: URLs are not requests to anywhere)."""
    from urllib.parse import urlparse

    problems = PageProblems([], [])
    page.on("pageerror", lambda exc: problems.errors.append(str(exc)))
    page.on("request", lambda request: urlparse(request.url).hostname not in ("127.0.0.1", None)
            and not request.url.startswith("data:") and problems.outside.append(request.url))
    return problems
