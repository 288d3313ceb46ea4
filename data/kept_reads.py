"""Aggregate reads kept until the next import (``data.result_cache``): the pieces shared by
the domain modules that keep a read's result in memory and as Parquet, so a server restart
(or another process) finds it without scanning the loan tape again.

* :func:`selection_parts` — the scope and the filters as a JSON-able part of a cache key;
* :func:`kept_frame` — a frame from the cache, else computed and kept.
"""

from __future__ import annotations

from collections.abc import Callable

import pandas as pd
import sqlalchemy as sa

from data.read import Filters, Scope
from data.result_cache import ResultCache

__all__ = ["selection_parts", "kept_frame"]


def selection_parts(scope: Scope, filters: Filters) -> dict:
    """``scope`` and every field of ``filters`` (months as ISO dates, tuples sorted) as a
    dict for :meth:`data.result_cache.ResultCache.key`."""
    return {
        "scope": None if scope.regions is None else sorted(scope.regions),
        "months": [None if d is None else d.isoformat() for d in (filters.as_of, filters.start, filters.end)],
        "regions": sorted(filters.regions),
        "products": sorted(filters.products),
        "segments": sorted(filters.segments),
    }


def kept_frame(cache: ResultCache, conn: sa.Connection, parts: dict, compute: Callable[[], pd.DataFrame]) -> pd.DataFrame:
    """The frame kept in ``cache`` under ``parts`` at the store's current data version; when
    there is none, ``compute()``, kept (memory and Parquet) and returned. ``attrs`` are not
    kept: callers set them on what they return."""
    store, key = cache.key(conn, parts)
    hit = cache.get(key)
    if hit is not None:
        return hit
    frame = compute()
    frame.attrs.clear()
    cache.put(store, key, frame)
    return frame
