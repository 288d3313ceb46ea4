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

import os
import time
from pathlib import Path

import pytest
from streamlit_driver import (
    PageInfo,
    assert_clean,
    choose_lang,
    current_lang,
    current_path,
    go_to,
    new_tab,
    registered_pages,
    sign_in,
    wait_idle,
)

ROOT = Path(__file__).resolve().parents[2]
SCREENSHOT_DIR = ROOT / "docs" / "screenshots"
LANGS = ("zh", "en")

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

PAGES = registered_pages()
PAGE_PATHS = [p.url_path for p in PAGES]


@pytest.fixture
def tab(browser):
    page = new_tab(browser)
    yield page
    page.close()


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
