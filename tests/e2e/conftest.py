"""Fixtures for the end-to-end browser test: the app on a free loopback port, and Chromium.

``app_url`` (session) generates a small demo store into a temporary DuckDB file, starts
``streamlit run app.py`` on a free port of 127.0.0.1 with ``DAIHOU_DB_URL`` pointing at it,
waits for ``/_stcore/health`` and stops the server at the end of the session, also when a
test fails. ``browser`` (session) launches Debian's Chromium (``/usr/bin/chromium``, or
``DAIHOU_CHROMIUM``) headless through Playwright's sync API -- never Playwright's own
downloaded browser -- with the flags this sandboxed machine needs and a fresh profile.
Without Chromium the tests skip with a clear message (CI sets ``DAIHOU_NO_SKIPS=1``, which
turns any skip into a failure).
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

CHROMIUM = os.environ.get("DAIHOU_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]

# A small book: enough months for trends and every region, quick to generate (~10 s).
DEMO_LOANS, DEMO_MONTHS, DEMO_SEED = 3000, 24, 7


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_healthy(url: str, proc: subprocess.Popen, log: Path, timeout: float = 90) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"streamlit exited with {proc.returncode}:\n{log.read_text(errors='replace')[-4000:]}")
        try:
            with urllib.request.urlopen(url + "/_stcore/health", timeout=2) as r:
                if r.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.3)
    raise RuntimeError(f"streamlit not healthy after {timeout:.0f} s:\n{log.read_text(errors='replace')[-4000:]}")


def _stop(proc: subprocess.Popen) -> None:
    if proc.poll() is not None:
        return
    try:
        os.killpg(proc.pid, signal.SIGTERM)  # its own process group: nothing else is touched
        proc.wait(timeout=15)
    except (ProcessLookupError, subprocess.TimeoutExpired):
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        proc.wait(timeout=10)


class AppServer:
    """``streamlit run app.py`` on a free loopback port, in its own process group."""

    def __init__(self, env: dict[str, str], log: Path) -> None:
        self.env, self.log = env, log
        self.proc: subprocess.Popen | None = None
        self.url = ""

    def start(self) -> None:
        port = _free_port()
        cmd = [
            sys.executable, "-m", "streamlit", "run", "app.py",
            "--server.port", str(port), "--server.headless", "true", "--server.address", "127.0.0.1",
            "--server.fileWatcherType", "none", "--browser.gatherUsageStats", "false",
        ]
        with self.log.open("ab") as log:
            self.proc = subprocess.Popen(
                cmd, cwd=ROOT, env=self.env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
            )
        self.url = f"http://127.0.0.1:{port}"
        _wait_healthy(self.url, self.proc, self.log)

    def stop(self) -> None:
        if self.proc is not None:
            _stop(self.proc)
            self.proc = None

    def restart(self) -> None:
        """A fresh server process (on a new port): nothing has run in it yet."""
        self.stop()
        self.start()

    def log_tail(self, n: int = 3000) -> str:
        try:
            return self.log.read_text(errors="replace")[-n:]
        except OSError:
            return "(no server log)"


@pytest.fixture(scope="session")
def app_server(tmp_path_factory) -> AppServer:
    """The app, running on a freshly generated demo store, for this test session."""
    from cryptography.fernet import Fernet

    from data.engine import make_engine, upgrade
    from data.generate import generate_into

    work = tmp_path_factory.mktemp("e2e-app")
    env = dict(os.environ)
    env.update(
        DAIHOU_DB_URL=f"duckdb:///{work / 'store.duckdb'}",
        DAIHOU_CACHE_DIR=str(work / "cache"),
        DAIHOU_SECRETS_FILE=str(work / "no-secrets.toml"),  # ignore a developer's .streamlit/secrets.toml
        DAIHOU_SECRET_KEY=Fernet.generate_key().decode(),  # never write .daihou.key into the repository
        PYTHONUNBUFFERED="1",
    )
    env.pop("DAIHOU_SCREENSHOTS", None)
    # Generate in this process with the app's settings (the key encrypts the personal data).
    keys = ("DAIHOU_DB_URL", "DAIHOU_SECRET_KEY", "DAIHOU_SECRETS_FILE", "DAIHOU_CACHE_DIR")
    saved = {k: os.environ.get(k) for k in keys}
    os.environ.update({k: env[k] for k in keys})
    try:
        eng = make_engine(env["DAIHOU_DB_URL"])
        upgrade(eng)
        generate_into(eng, DEMO_LOANS, DEMO_MONTHS, DEMO_SEED)
        eng.dispose()
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v

    server = AppServer(env, work / "streamlit.log")
    try:
        server.start()
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def browser(tmp_path_factory):
    """Debian's headless Chromium driven by Playwright (a fresh profile; closed at the end)."""
    if not (Path(CHROMIUM).is_file() and os.access(CHROMIUM, os.X_OK)):
        pytest.skip(f"Chromium not found at {CHROMIUM}: apt-get install chromium (CI installs it in .ci/run)")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:  # pragma: no cover - playwright is in requirements.txt
        pytest.skip("the playwright Python package is not installed (pip install -r requirements.txt)")
    profile = tmp_path_factory.mktemp("chromium-profile")
    with sync_playwright() as pw:
        ctx = pw.chromium.launch_persistent_context(
            str(profile),
            executable_path=CHROMIUM,
            headless=True,
            args=CHROMIUM_ARGS,
            viewport={"width": 1440, "height": 900},
            locale="zh-CN",
            timezone_id="Asia/Shanghai",
        )
        try:
            yield ctx
        finally:
            ctx.close()
            shutil.rmtree(profile, ignore_errors=True)
