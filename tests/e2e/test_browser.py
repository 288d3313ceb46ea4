"""End-to-end: the real app (``streamlit run app.py``) in a real headless Chromium.

What it covers:

* every page registered in app.py (parsed from its ``pages`` list, so a page added by
  anyone is covered without touching this file), in both languages: sign in as ``admin``,
  choose the language, open the page from the sidebar menu, wait until Streamlit has
  finished running, and fail on any Streamlit exception box, any browser console error,
  any uncaught page error or any failed request (the app must work offline). A full-page
  screenshot of each page goes to a temporary folder, and to
  ``docs/screenshots/<lang>-<page>.png`` when ``DAIHOU_SCREENSHOTS=1``
  (``scripts/screenshots.sh``);
* a shared link (``/<page>?lang=en``) opened in a new tab: it must keep the page and the
  language through the sign-in, also as the first request a freshly started server sees;
* the stress page: a slider moved with the keyboard changes the stressed expected loss;
* the regional page: a click on a province of the folium map opens that province's panel.

The app runs on a small generated store (``tests/e2e/conftest.py``).
"""

from __future__ import annotations

import ast
import os
import re
import time
from dataclasses import dataclass, field
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SCREENSHOT_DIR = ROOT / "docs" / "screenshots"
USER, PASSWORD = "admin", "daihou"
LANGS = ("zh", "en")
LANG_LABEL = {"zh": "中文", "en": "English"}  # the sidebar's language switch
RUN_TIMEOUT_S = 120

pytestmark = [pytest.mark.e2e, pytest.mark.slow]


@dataclass(frozen=True)
class PageInfo:
    url_path: str
    default: bool


def registered_pages() -> list[PageInfo]:
    """Every ``st.Page`` of app.py's ``pages`` list, in menu order.

    Parsed from the source (app.py is a Streamlit script, not importable), so a page added
    by anyone is covered here without touching this file.
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


PAGES = registered_pages()
PAGE_PATHS = [p.url_path for p in PAGES]


# --- what the browser reports -------------------------------------------------------------

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


@pytest.fixture
def tab(browser):
    page = new_tab(browser)
    yield page
    page.close()


# --- driving Streamlit ------------------------------------------------------------------------

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


def wait_idle(page, timeout: float = RUN_TIMEOUT_S, settle: float = 0.8) -> None:
    """Wait until the script run is over and nothing is loading, steadily for ``settle`` s."""
    deadline = time.monotonic() + timeout
    idle_since = None
    while time.monotonic() < deadline:
        if page.evaluate(_IDLE_JS):
            idle_since = idle_since or time.monotonic()
            if time.monotonic() - idle_since >= settle:
                return
        else:
            idle_since = None
        page.wait_for_timeout(150)
    raise AssertionError(f"Streamlit still running after {timeout:.0f} s on {page.url}")


def sign_in(page) -> None:
    """Fill in and submit the login form shown by a new session."""
    page.get_by_label("User 用户名").wait_for()
    wait_idle(page)
    page.get_by_label("User 用户名").fill(USER)
    page.get_by_label("Password 密码").fill(PASSWORD)
    button = page.get_by_role("button", name="Sign in 登录")
    button.click()
    button.wait_for(state="detached")
    page.locator('[data-testid="stSidebar"]').get_by_role("button", name="Sign out 退出").wait_for()
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


def go_to(page, info: PageInfo) -> None:
    """Open a page from the sidebar menu (as a user does) and wait for its run to finish."""
    links = page.locator('[data-testid="stSidebarNav"] a[data-testid="stSidebarNavLink"]')
    if links.count() == 0:  # a one-page app has no menu
        assert len(PAGES) == 1 and current_path(page) in ("", info.url_path)
        return
    hrefs = [links.nth(i).get_attribute("href") or "" for i in range(links.count())]
    wanted = [i for i, h in enumerate(hrefs) if h.rstrip("/").split("/")[-1] == info.url_path]
    if not wanted and info.default:  # the default page's link is the app's root
        wanted = [i for i, h in enumerate(hrefs) if re.fullmatch(r"(https?://[^/]+)?/?", h)]
    assert wanted, f"no sidebar link to {info.url_path!r} (links: {hrefs})"
    links.nth(wanted[0]).click()
    expected = ("", info.url_path) if info.default else (info.url_path,)
    deadline = time.monotonic() + 30
    while current_path(page) not in expected and time.monotonic() < deadline:
        page.wait_for_timeout(100)
    assert current_path(page) in expected, f"clicked {info.url_path!r}, the address is {page.url}"
    page.wait_for_timeout(300)  # the rerun starts
    wait_idle(page)


def assert_clean(page, what: str, server) -> None:
    """No Streamlit exception on the page and nothing bad reported by the browser."""
    boxes = page.locator('[data-testid="stException"], .stException')
    if boxes.count():
        texts = "\n---\n".join(boxes.nth(i).inner_text() for i in range(boxes.count()))
        raise AssertionError(f"{what}: Streamlit exception on the page:\n{texts}")
    problems = page.daihou_log.problems()
    assert not problems, f"{what}:\n" + "\n".join(problems) + "\n--- server log (tail) ---\n" + server.log_tail()


def screenshot(page, name: str, folder: Path) -> Path:
    """Full-page screenshot. Streamlit scrolls inside its own main container, so the
    viewport is grown to the content's height first (and restored after)."""
    size = page.viewport_size
    height = page.evaluate(
        """() => Math.max(window.innerHeight, ...[...document.querySelectorAll(
             '[data-testid="stMain"], [data-testid="stMainBlockContainer"], [data-testid="stSidebarContent"]')]
             .map(e => e.scrollHeight))"""
    )
    page.set_viewport_size({"width": size["width"], "height": min(int(height) + 40, 10_000)})
    try:
        page.wait_for_timeout(500)  # charts and maps re-layout on resize
        wait_idle(page, settle=0.4)
        out = folder / f"{name}.png"
        page.screenshot(path=str(out), full_page=True, animations="disabled")
        if os.environ.get("DAIHOU_SCREENSHOTS") == "1":
            SCREENSHOT_DIR.mkdir(parents=True, exist_ok=True)
            (SCREENSHOT_DIR / out.name).write_bytes(out.read_bytes())
        return out
    finally:
        page.set_viewport_size(size)


def require_page(url_path: str) -> PageInfo:
    for info in PAGES:
        if info.url_path == url_path:
            return info
    pytest.skip(f"page {url_path!r} is not registered in app.py yet, so its interaction cannot run")


@pytest.fixture(scope="module")
def shots(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("screenshots")


@pytest.fixture(scope="module", params=LANGS)
def session_tab(request, browser, app_server):
    """One signed-in tab per language, shared by the page tests (as a user clicks through
    the menu); its browser log is cleared before each test."""
    page = new_tab(browser)
    page.goto(app_server.url + "/", wait_until="domcontentloaded")
    sign_in(page)
    choose_lang(page, request.param)
    assert_clean(page, f"sign-in ({request.param})", app_server)
    yield request.param, page
    page.close()


# --- tests ------------------------------------------------------------------------------------

def test_pages_are_registered():
    assert PAGES, "no pages parsed from app.py"
    assert len(PAGE_PATHS) == len(set(PAGE_PATHS)), f"duplicate url_path in app.py: {PAGE_PATHS}"
    assert sum(p.default for p in PAGES) <= 1


@pytest.mark.parametrize("url_path", PAGE_PATHS)
def test_page_renders_cleanly(session_tab, app_server, shots, url_path):
    lang, page = session_tab
    page.daihou_log.clear()
    info = require_page(url_path)
    go_to(page, info)
    what = f"page {url_path!r} ({lang})"
    assert current_lang(page) == lang, f"{what}: the language switched by itself"
    titles = page.locator('[data-testid="stMain"] h1')
    assert titles.count() >= 1, f"{what}: no page title"
    assert_clean(page, what, app_server)
    shot = screenshot(page, f"{lang}-{url_path}", shots)
    assert shot.stat().st_size > 10_000, f"{what}: the screenshot is nearly empty"
    assert_clean(page, f"{what}, after resizing for the screenshot", app_server)


def test_stress_slider_changes_the_stressed_loss(tab, app_server):
    info = require_page("stress")
    tab.goto(app_server.url + "/", wait_until="domcontentloaded")
    sign_in(tab)
    go_to(tab, info)
    main = tab.locator('[data-testid="stMain"]')
    metric = main.locator('[data-testid="stMetric"]').filter(has_text="Stressed EL").first
    value = metric.locator('[data-testid="stMetricValue"]')
    before = value.inner_text()
    # The unemployment shock (the page's key stress_unemployment): up raises every PD. The
    # slider's thumb is a visually hidden <input type="range"> (role slider) that takes the keys.
    container = main.locator(".st-key-stress_unemployment")
    thumb = (container if container.count() else main).get_by_role("slider").first
    start = thumb.input_value()
    thumb.focus()
    for _ in range(8):
        thumb.press("ArrowRight")
    tab.wait_for_function("([el, start]) => el.value !== start", arg=[thumb.element_handle(), start])
    moved_to = thumb.input_value()
    tab.wait_for_timeout(300)  # the fragment's rerun starts
    wait_idle(tab)
    after = value.inner_text()
    assert after != before, f"stressed EL stayed {before!r} after the slider moved from {start} to {moved_to}"
    assert_clean(tab, "stress page after moving a slider", app_server)


_MAP_POINT_JS = """(code) => {
  // The folium map: find the Leaflet map object, the region layer whose feature has this
  // code, and a point inside that region (container pixels).
  const maps = Object.values(window).filter(v => v && window.L && v instanceof window.L.Map);
  for (const map of maps) {
    let target = null;
    map.eachLayer(layer => {
      if (!target && layer.feature && layer.feature.properties && String(layer.feature.properties.code) === code
          && layer.getBounds) target = layer;
    });
    if (!target) continue;
    const b = target.getBounds();
    const candidates = [target.getCenter ? target.getCenter() : null, b.getCenter()];
    for (let i = 1; i < 10; i++) for (let j = 1; j < 10; j++)
      candidates.push(window.L.latLng(b.getSouth() + (b.getNorth() - b.getSouth()) * i / 10,
                                      b.getWest() + (b.getEast() - b.getWest()) * j / 10));
    for (const ll of candidates) {
      if (!ll) continue;
      const inside = target._containsPoint ? target._containsPoint(map.latLngToLayerPoint(ll)) : true;
      if (!inside) continue;
      const p = map.latLngToContainerPoint(ll);
      const r = map.getContainer().getBoundingClientRect();
      return {x: r.left + p.x, y: r.top + p.y};
    }
  }
  return null;
}"""


def test_regional_map_click_opens_the_province(tab, app_server):
    info = require_page("regional")
    tab.goto(app_server.url + "/?lang=zh", wait_until="domcontentloaded")
    sign_in(tab)
    go_to(tab, info)
    main = tab.locator('[data-testid="stMain"]')
    assert main.locator("#province-panel").count() == 0, "a province panel is open before any click"
    # streamlit-folium draws the folium map in its component iframe.
    frame_el = main.locator('iframe[title*="folium"]')
    frame_el.wait_for()
    frame_el.scroll_into_view_if_needed()
    frame = frame_el.element_handle().content_frame()
    frame.wait_for_selector(".leaflet-container .leaflet-interactive, .leaflet-container canvas")
    point = None
    deadline = time.monotonic() + 30
    while point is None and time.monotonic() < deadline:
        point = frame.evaluate(_MAP_POINT_JS, "440000")  # 广东 Guangdong
        if point is None:
            tab.wait_for_timeout(200)
    assert point, "no Guangdong (440000) region on the map"
    box = frame_el.bounding_box()
    tab.mouse.click(box["x"] + point["x"], box["y"] + point["y"])
    panel = main.locator("#province-panel")
    panel.wait_for(timeout=60_000)
    tab.wait_for_timeout(300)
    wait_idle(tab)
    assert "广东" in panel.inner_text(), f"the panel opened is {panel.inner_text()!r}, not Guangdong's"
    assert_clean(tab, "regional page after a click on Guangdong", app_server)


@pytest.mark.parametrize("lang", LANGS)
def test_shared_link_keeps_the_page_and_the_language(tab, app_server, lang):
    """A link such as /delinquency?lang=en opened in a new tab shows that page in that
    language after the sign-in."""
    info = next((p for p in PAGES if not p.default), PAGES[0])
    link = f"/{info.url_path}?lang={lang}"
    tab.goto(app_server.url + link, wait_until="domcontentloaded")
    sign_in(tab)
    assert_clean(tab, f"shared link {link}", app_server)
    assert current_path(tab) == info.url_path, (
        f"{link} showed {tab.url} after the sign-in: the page was lost. Likely cause: the sign-in run "
        "stops (require_login) before app.py calls st.navigation, so the run after the sign-in resolves "
        "the default page; calling st.navigation before require_login keeps it."
    )
    assert current_lang(tab) == lang, (
        f"{link} showed the app in {current_lang(tab)!r}. Likely cause: a segmented_control bound with "
        "bind='query-params' and a format_func reads and writes the label (?lang=English), so ?lang=en "
        "is rejected and cleared."
    )


def test_shared_link_as_the_first_request_after_a_restart(browser, app_server):
    """Right after a (re)start nothing has run in the server; a shared link must still show
    the sign-in form and then the page. (Last in this file: it restarts the server.)"""
    info = next((p for p in PAGES if not p.default), PAGES[0])
    app_server.restart()
    page = new_tab(browser)
    try:
        page.goto(f"{app_server.url}/{info.url_path}", wait_until="domcontentloaded")
        page.wait_for_timeout(500)
        wait_idle(page)
        hint = (
            "Likely cause: the page files live in a folder named pages/, so until the first "
            "st.navigation call in this server process Streamlit uses its old pages-directory mode "
            "and runs pages/<page>.py alone, without app.py (no sign-in). Renaming the folder fixes it."
        )
        assert_clean(page, f"/{info.url_path} as the first request of a new server ({hint})", app_server)
        sign_in(page)
        assert_clean(page, f"/{info.url_path} as the first request of a new server, signed in", app_server)
    finally:
        page.close()
