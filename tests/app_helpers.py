"""Helpers for AppTest-driven tests of the Streamlit app.

AppTest (Streamlit 1.67) resets ``PagesManager.uses_pages_directory`` before every run,
and because our page files live in ``pages/`` the flag then turns on Streamlit's old
"pages directory" mode, which runs a page file *without* the entry script on every rerun
after the first (no sidebar, no login). The running server does not do this: its first
``st.navigation`` call turns the flag off for good. :func:`app_test` patches AppTest's
PagesManager so every test run behaves like the server.
"""

from __future__ import annotations

from pathlib import Path

import streamlit.testing.v1.app_test as _app_test
from streamlit.runtime.pages_manager import PagesManager
from streamlit.testing.v1 import AppTest

ROOT = Path(__file__).resolve().parent.parent


class _NavigationPagesManager(PagesManager):
    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        PagesManager.uses_pages_directory = False


_app_test.PagesManager = _NavigationPagesManager


def app_test(timeout: float = 120) -> AppTest:
    """AppTest of the entry script ``app.py``."""
    return AppTest.from_file(str(ROOT / "app.py"), default_timeout=timeout)


def signed_in_app(username: str = "manager", password: str = "daihou", timeout: float = 120) -> AppTest:
    """The app, run once and signed in as ``username``."""
    at = app_test(timeout)
    at.run()
    assert not at.exception, at.exception
    at.text_input[0].input(username)
    at.text_input[1].input(password)
    at.button[0].click()
    at.run()
    assert not at.exception, at.exception
    return at


def widget(elements, key: str):
    """The widget with this key among ``elements`` (e.g. ``at.multiselect``)."""
    for w in elements:
        if w.key == key:
            return w
    raise AssertionError(f"no widget with key {key!r}")


def open_page(path: str, username: str = "manager", timeout: float = 120) -> AppTest:
    """The app signed in as ``username`` with the page file ``path`` run once, without exception."""
    at = signed_in_app(username, timeout=timeout)
    at.switch_page(path).run()
    assert not at.exception, at.exception
    return at


def metric(at: AppTest, label_part: str):
    """The first metric whose label contains ``label_part``."""
    for m in at.metric:
        if label_part in m.label:
            return m
    raise AssertionError(f"no metric labelled {label_part!r}: {[m.label for m in at.metric]}")


def metric_count(at: AppTest, label_part: str) -> int:
    """The value of :func:`metric` read as a whole number (``"12,345"`` → 12345)."""
    return int(metric(at, label_part).value.replace(",", ""))
