"""Driving the real app in a real browser: shared by the end-to-end test and ``bench/pages.py``.

* :class:`AppServer` runs ``streamlit run app.py`` headless on a free loopback port, in its
  own process group (so stopping it touches nothing else), and waits for ``/_stcore/health``;
  :func:`app_environment` is the environment it runs with (store URL, cache folder, no
  developer secrets file).
* :func:`launch_chromium` opens Debian's Chromium (``/usr/bin/chromium``, or
  ``DAIHOU_CHROMIUM``) headless through Playwright's sync API -- never Playwright's own
  downloaded browser -- with the flags this sandboxed machine needs and a fresh profile.
* :func:`new_tab` records console errors, uncaught errors and failed requests;
  :func:`wait_idle` waits until Streamlit has finished running (and returns when the page
  became idle), :func:`sign_in`, :func:`go_to`, :func:`choose_lang` act as a user does.
* :func:`registered_pages` lists the pages of app.py (parsed from its source).

Importable as ``streamlit_driver`` from the tests in this folder (pytest puts the folder on
``sys.path``) and by path from the benchmark.
"""

from __future__ import annotations

import ast
import contextlib
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

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

USER, PASSWORD = "admin", "daihou"
LANG_LABEL = {"zh": "中文", "en": "English"}  # the sidebar's language switch
RUN_TIMEOUT_S = 120


# --- the app server -----------------------------------------------------------------------------

def free_port() -> int:
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


def app_environment(db_url: str, cache_dir: Path, secrets_file: Path, **extra: str) -> dict[str, str]:
    """This process's environment for the app: the store, the disk caches' folder, and a
    secrets file that does not exist (so a developer's .streamlit/secrets.toml is ignored)."""
    env = dict(os.environ)
    env.update(
        DAIHOU_DB_URL=db_url,
        DAIHOU_CACHE_DIR=str(cache_dir),
        DAIHOU_SECRETS_FILE=str(secrets_file),
        PYTHONUNBUFFERED="1",
        **extra,
    )
    env.pop("DAIHOU_SCREENSHOTS", None)
    return env


class AppServer:
    """``streamlit run app.py`` on a free loopback port, in its own process group."""

    def __init__(self, env: dict[str, str], log: Path) -> None:
        self.env, self.log = env, log
        self.proc: subprocess.Popen | None = None
        self.url = ""

    @property
    def pid(self) -> int | None:
        return None if self.proc is None else self.proc.pid

    def start(self) -> None:
        port = free_port()
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


# --- the browser --------------------------------------------------------------------------------

def chromium_missing() -> str | None:
    """Why Chromium cannot be driven here, or None when it can."""
    if not (Path(CHROMIUM).is_file() and os.access(CHROMIUM, os.X_OK)):
        return f"Chromium not found at {CHROMIUM}: apt-get install chromium (CI installs it in .ci/run)"
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:  # pragma: no cover - playwright is in requirements.txt
        return "the playwright Python package is not installed (pip install -r requirements.txt)"
    return None


@contextlib.contextmanager
def launch_chromium(profile: Path | None = None):
    """Debian's headless Chromium driven by Playwright: a persistent context on a fresh
    profile (a temporary folder unless given), closed and removed at the end."""
    from playwright.sync_api import sync_playwright

    own = profile is None
    profile = Path(tempfile.mkdtemp(prefix="daihou-chromium-")) if own else profile
    try:
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
    finally:
        shutil.rmtree(profile, ignore_errors=True)


# --- the pages of app.py ------------------------------------------------------------------------

@dataclass(frozen=True)
class PageInfo:
    url_path: str
    default: bool


def registered_pages() -> list[PageInfo]:
    """Every ``st.Page`` of app.py's ``pages`` list, in menu order.

    Parsed from the source (app.py is a Streamlit script, not importable), so a page added
    by anyone is covered without touching the tests or the benchmark.
    """
    tree = ast.parse((ROOT / "app.py").read_text(encoding="utf-8"))
    for node in ast.walk(tree):
        if (
            isinstance(node, ast.Assign)
            and any(isinstance(t, ast.Name) and t.id == "pages" for t in node.targets)
            and isinstance(node.value, ast.List)
        ):
            out = []
            for call in node.value.elts:
                if not isinstance(call, ast.Call):
                    continue
                kw = {k.arg: k.value for k in call.keywords}
                if isinstance(kw.get("url_path"), ast.Constant):
                    path = kw["url_path"].value
                elif call.args and isinstance(call.args[0], ast.Constant):  # Streamlit's default: the file's stem
                    path = Path(call.args[0].value).stem
                else:
                    raise AssertionError(f"app.py line {call.lineno}: cannot tell this page's url_path")
                default = isinstance(kw.get("default"), ast.Constant) and kw["default"].value is True
                out.append(PageInfo(path, default))
            return out
    raise AssertionError("app.py has no `pages = [...]` list of st.Page")


# --- what the browser reports -------------------------------------------------------------------

# Console errors that are not faults of the app. Each entry is (regex, why it is harmless);
# nothing else is ever filtered out.
ALLOWED_CONSOLE: list[tuple[str, str]] = [
    (
        r"^Failed to load resource: the server responded with a status of 404 \(Not Found\) "
        r"\(at https?://127\.0\.0\.1:\d+/[A-Za-z0-9_-]+/_stcore/(health|host-config)\b",
        "Streamlit's front end, opened on a page's own address (/<page>), first asks whether "
        "/<page> is the server's base path by requesting /<page>/_stcore/health and "
        "/<page>/_stcore/host-config; the 404s are how it learns it is not, and it goes on "
        "with the real base path. Only a shared link to a page does this.",
    ),
]


@dataclass
class BrowserLog:
    """What the browser reported while a tab was open."""

    console: list[str] = field(default_factory=list)
    page_errors: list[str] = field(default_factory=list)
    failed_requests: list[str] = field(default_factory=list)

    def clear(self) -> None:
        self.console.clear()
        self.page_errors.clear()
        self.failed_requests.clear()

    def problems(self) -> list[str]:
        out = [f"console error: {m}" for m in self.console if not any(re.search(p, m) for p, _ in ALLOWED_CONSOLE)]
        out += [f"uncaught page error: {m}" for m in self.page_errors]
        out += [f"failed request: {m}" for m in self.failed_requests]
        return out


def new_tab(browser):
    """A new tab that records console errors, uncaught errors and failed requests."""
    page = browser.new_page()
    log = BrowserLog()

    def on_console(msg) -> None:
        if msg.type == "error":
            loc = msg.location or {}
            log.console.append(f"{msg.text} (at {loc.get('url', '?')}:{loc.get('lineNumber', '?')})")

    def on_failed(req) -> None:
        # A navigation away from a page cancels its pending requests: not a fault.
        if req.failure and "ERR_ABORTED" in req.failure:
            return
        log.failed_requests.append(f"{req.method} {req.url}: {req.failure}")

    page.on("console", on_console)
    page.on("pageerror", lambda err: log.page_errors.append(str(err)))
    page.on("requestfailed", on_failed)
    page.set_default_timeout(RUN_TIMEOUT_S * 1000)
    page.daihou_log = log
    return page


# --- driving Streamlit --------------------------------------------------------------------------

_IDLE_JS = """() => {
  const app = document.querySelector('[data-testid="stApp"]');
  if (!app) return false;
  if (app.getAttribute('data-test-script-state') !== 'notRunning') return false;
  if (app.getAttribute('data-test-connection-state') !== 'CONNECTED') return false;
  const status = document.querySelector('[data-testid="stStatusWidget"]');
  if (status && status.querySelector('[data-testid^="stStatusWidgetRunning"]')) return false;
  if (document.querySelector('[data-testid="stSkeleton"], [data-testid="stSkeletonElement"], [data-testid="stSpinner"]'))
    return false;
  return true;
}"""


def wait_idle(page, timeout: float = RUN_TIMEOUT_S, settle: float = 0.8, poll: float = 0.15) -> float:
    """Wait until the script run is over and nothing is loading, steadily for ``settle`` s.

    Returns the ``time.monotonic()`` at which that steady idle stretch began (within
    ``poll`` s), so a caller can time a run without the settling wait.
    """
    deadline = time.monotonic() + timeout
    idle_since = None
    while time.monotonic() < deadline:
        if page.evaluate(_IDLE_JS):
            idle_since = idle_since or time.monotonic()
            if time.monotonic() - idle_since >= settle:
                return idle_since
        else:
            idle_since = None
        page.wait_for_timeout(poll * 1000)
    raise AssertionError(f"Streamlit still running after {timeout:.0f} s on {page.url}")


# Counts the script runs that start in the tab (the app element's script state turning to
# "running"), so an action's run is seen to begin even when it is over between two polls.
_WATCH_RUNS_JS = """() => {
  if (!window.__daihouRuns) {
    const app = document.querySelector('[data-testid="stApp"]');
    const w = {starts: 0};
    new MutationObserver(() => {
      if (app.getAttribute('data-test-script-state') === 'running') w.starts++;
    }).observe(app, {attributes: true, attributeFilter: ['data-test-script-state']});
    window.__daihouRuns = w;
  }
  window.__daihouRuns.starts = 0;
}"""


def timed_run(page, action, start_timeout: float = 15, poll: float = 0.05) -> float:
    """Seconds from ``action()`` (a click, a key press) until the run it causes is over and
    the page is idle again; fails when no run starts within ``start_timeout`` s."""
    page.evaluate(_WATCH_RUNS_JS)
    t0 = time.monotonic()
    action()
    deadline = t0 + start_timeout
    while not page.evaluate("() => window.__daihouRuns.starts"):
        if time.monotonic() > deadline:
            raise AssertionError(f"no script run started within {start_timeout:.0f} s of the action on {page.url}")
        page.wait_for_timeout(poll * 1000)
    return wait_idle(page, poll=poll) - t0


def fill_sign_in(page):
    """Fill in the login form shown by a new session; return its submit button."""
    page.get_by_label("User 用户名").wait_for()
    wait_idle(page)
    page.get_by_label("User 用户名").fill(USER)
    page.get_by_label("Password 密码").fill(PASSWORD)
    return page.get_by_role("button", name="Sign in 登录")


def signed_in_check(page, button) -> None:
    """The login form is gone and the sidebar offers to sign out."""
    button.wait_for(state="detached")
    page.locator('[data-testid="stSidebar"]').get_by_role("button", name="Sign out 退出").wait_for()


def sign_in(page) -> None:
    """Fill in and submit the login form shown by a new session."""
    button = fill_sign_in(page)
    button.click()
    signed_in_check(page, button)
    wait_idle(page)


def _lang_switch(page):
    return page.locator('[data-testid="stSidebar"] [role="radiogroup"][aria-label="Language 语言"]')


def current_lang(page) -> str:
    checked = _lang_switch(page).locator('[role="radio"][aria-checked="true"]').inner_text().strip()
    return {v: k for k, v in LANG_LABEL.items()}[checked]


def choose_lang(page, lang: str) -> None:
    if current_lang(page) != lang:
        _lang_switch(page).get_by_role("radio", name=LANG_LABEL[lang]).click()
        wait_idle(page)
    assert current_lang(page) == lang


def current_path(page) -> str:
    return page.evaluate("() => window.location.pathname").rstrip("/").split("/")[-1]


def click_menu_link(page, info: PageInfo) -> tuple[str, ...]:
    """Click a page's link in the sidebar menu; return the addresses that page may have."""
    links = page.locator('[data-testid="stSidebarNav"] a[data-testid="stSidebarNavLink"]')
    hrefs = [links.nth(i).get_attribute("href") or "" for i in range(links.count())]
    wanted = [i for i, h in enumerate(hrefs) if h.rstrip("/").split("/")[-1] == info.url_path]
    if not wanted and info.default:  # the default page's link is the app's root
        wanted = [i for i, h in enumerate(hrefs) if re.fullmatch(r"(https?://[^/]+)?/?", h)]
    assert wanted, f"no sidebar link to {info.url_path!r} (links: {hrefs})"
    links.nth(wanted[0]).click()
    return ("", info.url_path) if info.default else (info.url_path,)


def go_to(page, info: PageInfo) -> None:
    """Open a page from the sidebar menu (as a user does) and wait for its run to finish."""
    links = page.locator('[data-testid="stSidebarNav"] a[data-testid="stSidebarNavLink"]')
    if links.count() == 0:  # a one-page app has no menu
        assert current_path(page) in ("", info.url_path), f"no menu, and the address is {page.url}"
        return
    expected = click_menu_link(page, info)
    deadline = time.monotonic() + 30
    while current_path(page) not in expected and time.monotonic() < deadline:
        page.wait_for_timeout(100)
    assert current_path(page) in expected, f"clicked {info.url_path!r}, the address is {page.url}"
    page.wait_for_timeout(300)  # the rerun starts
    wait_idle(page)


def exception_texts(page) -> list[str]:
    """The texts of the Streamlit exception boxes on the page."""
    boxes = page.locator('[data-testid="stException"], .stException')
    return [boxes.nth(i).inner_text() for i in range(boxes.count())]


def assert_clean(page, what: str, server) -> None:
    """No Streamlit exception on the page and nothing bad reported by the browser."""
    texts = exception_texts(page)
    if texts:
        raise AssertionError(f"{what}: Streamlit exception on the page:\n" + "\n---\n".join(texts))
    problems = page.daihou_log.problems()
    assert not problems, f"{what}:\n" + "\n".join(problems) + "\n--- server log (tail) ---\n" + server.log_tail()
