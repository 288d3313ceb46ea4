"""One cached way for pages to call the data layer.

``query(fn, scope, *args, **kwargs)`` runs ``fn(conn, scope, *args, **kwargs)`` on the
store and caches the result with ``st.cache_data``, keyed by the function, the store's
data version (the latest import batch), the scope and the arguments. A load from the
command line or the Data page therefore shows up on the next rerun, and reruns that change
nothing recompute nothing. The data functions stay plain (no Streamlit) and testable.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any, TypeVar

import streamlit as st

from components.store import data_version, engine
from data.read import Scope

__all__ = ["query", "query_resource"]

T = TypeVar("T")


def _resolve(path: str) -> Callable[..., Any]:
    module, _, name = path.rpartition(":")
    obj: Any = importlib.import_module(module)
    for part in name.split("."):
        obj = getattr(obj, part)
    return obj


def _path(fn: Callable[..., Any]) -> str:
    return f"{fn.__module__}:{fn.__qualname__}"


@st.cache_data(show_spinner=False, max_entries=512)
def _cached(path: str, url: str, version: int, scope: Scope, args: tuple, kwargs: tuple) -> Any:
    with engine().connect() as conn:
        return _resolve(path)(conn, scope, *args, **dict(kwargs))


@st.cache_resource(show_spinner=False, max_entries=16)
def _cached_resource(path: str, url: str, version: int, scope: Scope, args: tuple, kwargs: tuple) -> Any:
    with engine().connect() as conn:
        return _resolve(path)(conn, scope, *args, **dict(kwargs))


def query(fn: Callable[..., T], scope: Scope, *args: Any, **kwargs: Any) -> T:
    """``fn(conn, scope, *args, **kwargs)``, cached by data version, scope and arguments.

    Arguments must be hashable by Streamlit (dataclasses such as ``Filters``, dates,
    tuples, strings, numbers). The result is copied for each caller (``st.cache_data``).
    """
    from data.config import settings

    return _cached(_path(fn), settings().db_url, data_version(), scope, args, tuple(sorted(kwargs.items())))


def query_resource(fn: Callable[..., T], scope: Scope, *args: Any, **kwargs: Any) -> T:
    """Like :func:`query` but shared, not copied (``st.cache_resource``): for large
    read-only objects such as a prepared stress book. Callers must not mutate it."""
    from data.config import settings

    return _cached_resource(_path(fn), settings().db_url, data_version(), scope, args, tuple(sorted(kwargs.items())))
