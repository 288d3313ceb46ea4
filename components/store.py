"""The app's handle on the store: one engine per process, cached reads keyed by data version.

Follows Streamlit's guidance: the engine is a resource (``st.cache_resource``); query
results are data (``st.cache_data``) keyed by the scope, the filters and the store's data
version (the latest import batch), so a load from the command line or the Data page shows
up on the next rerun without clearing anyone's cache by hand.
"""

from __future__ import annotations

import threading

import pandas as pd
import sqlalchemy as sa
import streamlit as st

from data import read
from data.config import settings
from data.engine import make_engine, upgrade
from data.read import Filters, Scope
from data.reports import monthly_kpis
from data.schema import ImportBatch

__all__ = [
    "engine",
    "data_version",
    "cached_monthly_kpis",
    "cached_months",
    "cached_regions",
    "cached_dimension_values",
    "first_run_lock",
    "data_changed",
]


LINGER_S = 2.0
"""Seconds the app keeps an idle DuckDB store open (``data.engine.make_engine(linger_s=)``)."""


@st.cache_resource(show_spinner=False)
def _engine_for(url: str) -> sa.Engine:
    # Connections linger 2 s after the last read: a page's dozen reads share one open file,
    # and a load from the command line gets the file once the app is idle (data.engine).
    eng = make_engine(url, linger_s=LINGER_S)
    upgrade(eng)
    return eng


def engine() -> sa.Engine:
    """The configured store's engine, brought to the latest schema once per process and URL."""
    return _engine_for(settings().db_url)


@st.cache_resource(show_spinner=False)
def first_run_lock() -> threading.Lock:
    """Held while the demo portfolio is being generated, so only one session generates it."""
    return threading.Lock()


@st.cache_data(ttl=2, show_spinner=False)
def _latest_batch(url: str) -> int:
    with engine().connect() as conn:
        return int(conn.execute(sa.select(sa.func.coalesce(sa.func.max(ImportBatch.batch_id), 0))).scalar_one())


def data_version() -> int:
    """The latest import batch id (0 for an empty store): part of every cache key.

    Read at most every 2 seconds (a rerun calls it once per read; opening the DuckDB file
    each time costs tens of milliseconds), so a load from the command line shows up within
    2 s; a load in this process calls :func:`data_changed` and shows up at once.
    """
    return _latest_batch(settings().db_url)


def data_changed() -> None:
    """Forget the remembered data version (after an import or generation in this process)."""
    _latest_batch.clear()


# The reads below go through components.query.query, whose cache key holds the store URL as
# well as the data version (two stores in one process, as in the tests, never share results).
# ``version`` stays in the signatures for the callers; the key takes the current one itself.


def cached_monthly_kpis(version: int, scope: Scope, filters: Filters, by: tuple[str, ...] = ()) -> pd.DataFrame:
    """``data.reports.monthly_kpis`` for this store, data version, scope and filters."""
    from components.query import query

    return query(monthly_kpis, scope, filters, tuple(by))


def cached_months(version: int, scope: Scope) -> list:
    """Stored month ends in scope, oldest first."""
    from components.query import query

    return query(read.stored_months, scope, Filters())


def cached_regions(version: int, scope: Scope) -> pd.DataFrame:
    """Regions in scope with their names."""
    from components.query import query

    return query(read.regions_frame, scope)


def cached_dimension_values(version: int, scope: Scope, column: str) -> list[str]:
    """Distinct products / segments / ... among the loans in scope."""
    from components.query import query

    return query(read.distinct_values, scope, column)
