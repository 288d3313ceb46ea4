"""Fixtures for the end-to-end browser test: the app on a free loopback port, and Chromium.

``app_server`` (session) generates a small demo store into a temporary DuckDB file, starts
``streamlit run app.py`` on a free port of 127.0.0.1 with ``DAIHOU_DB_URL`` pointing at it,
waits for ``/_stcore/health`` and stops the server at the end of the session, also when a
test fails. ``browser`` (session) launches Debian's Chromium (``/usr/bin/chromium``, or
``DAIHOU_CHROMIUM``) headless through Playwright's sync API -- never Playwright's own
downloaded browser -- with the flags this sandboxed machine needs and a fresh profile.
Without Chromium the tests skip with a clear message (CI sets ``DAIHOU_NO_SKIPS=1``, which
turns any skip into a failure). The server and browser code is in ``streamlit_driver``
(shared with ``bench/pages.py``).
"""

from __future__ import annotations

import os

import pytest
from streamlit_driver import AppServer, app_environment, chromium_missing, launch_chromium

# A small book: enough months for trends and every region, quick to generate (~10 s).
DEMO_LOANS, DEMO_MONTHS, DEMO_SEED = 3000, 24, 7


@pytest.fixture(scope="session")
def app_server(tmp_path_factory) -> AppServer:
    """The app, running on a freshly generated demo store, for this test session."""
    from cryptography.fernet import Fernet

    from data.engine import make_engine, upgrade
    from data.generate import generate_into

    work = tmp_path_factory.mktemp("e2e-app")
    env = app_environment(
        f"duckdb:///{work / 'store.duckdb'}",
        work / "cache",
        work / "no-secrets.toml",  # ignore a developer's .streamlit/secrets.toml
        DAIHOU_SECRET_KEY=Fernet.generate_key().decode(),  # never write .daihou.key into the repository
    )
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
    why = chromium_missing()
    if why:
        pytest.skip(why)
    with launch_chromium(tmp_path_factory.mktemp("chromium-profile")) as ctx:
        yield ctx
