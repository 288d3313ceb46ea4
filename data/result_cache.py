"""Small derived results kept until the next import: in memory and as Parquet on disk.

For results that are expensive to compute from the loan tape and small to keep (the ECL
aggregates of ``data.credit``, the early-warning back-test of ``data.alerts``). A result
is stored under a key made of

* the **store**: a hash of its URL (the password included in the hash, never written in
  clear), so two stores never share a result;
* the **data version** (:func:`data_version_key`): the latest import batch's id and its
  start and finish times, the number of loans and the latest stored month. Every import
  (the demo generator loads through the importer too) adds a batch, so a new import
  changes the key, and a store file recreated at the same path (batch ids start again)
  has other times; the counts also catch a store written without import batches;
* the **parts** the caller names: month, scope, filters, parameters (hashed as JSON).

Files live in ``$DAIHOU_CACHE_DIR/<kind>/`` (else ``<repo>/.cache/<kind>/``), named
``<store>-<version>-<parts>.parquet``; writing an entry deletes the same store's entries
of older data versions. Writes go to a temporary file and are renamed into place, so a
reader sees a whole file or none. Only the app's own Parquet files are read (no pickle).
"""

from __future__ import annotations

import hashlib
import json
import os
import threading
from collections import OrderedDict
from pathlib import Path

import pandas as pd
import sqlalchemy as sa

from data.config import REPO_ROOT
from data.schema import ImportBatch, Loan, Performance

__all__ = ["cache_root", "store_key", "data_version_key", "ResultCache"]


def cache_root() -> Path:
    """``$DAIHOU_CACHE_DIR``, else ``<repo>/.cache``."""
    base = os.environ.get("DAIHOU_CACHE_DIR")
    return Path(base) if base else REPO_ROOT / ".cache"


def store_key(conn: sa.Connection) -> str:
    """A hash of the store's URL (16 hex digits)."""
    url = conn.engine.url.render_as_string(hide_password=False)
    return hashlib.sha256(url.encode()).hexdigest()[:16]


def data_version_key(conn: sa.Connection) -> str:
    """A hash (16 hex digits) of the store's data version: the latest import batch (id,
    started_at, finished_at), the number of loans and the latest stored month; one query."""
    b = ImportBatch.__table__
    latest = sa.select(sa.func.max(b.c.batch_id)).scalar_subquery()
    batch = sa.select(b.c.batch_id, b.c.started_at, b.c.finished_at).where(b.c.batch_id == latest).subquery("batch")
    stmt = sa.select(
        sa.select(batch.c.batch_id).scalar_subquery(),
        sa.select(batch.c.started_at).scalar_subquery(),
        sa.select(batch.c.finished_at).scalar_subquery(),
        sa.select(sa.func.count()).select_from(Loan.__table__).scalar_subquery(),
        sa.select(sa.func.max(Performance.__table__.c.as_of)).scalar_subquery(),
    )
    row = conn.execute(stmt).one()
    return hashlib.sha256("|".join(str(v) for v in row).encode()).hexdigest()[:16]


def _parts_key(parts: dict) -> str:
    return hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()[:24]


class ResultCache:
    """DataFrames of one kind of result, keyed by store, data version and parts.

    ``get`` and ``put`` take the connection (for the store and its data version) and a
    JSON-able dict of the parts that identify the result. Memory keeps the latest
    ``max_memory`` entries; disk keeps every entry of the store's current data version.
    """

    def __init__(self, kind: str, version: int, max_memory: int = 256) -> None:
        self.kind = kind
        self.version = version
        self.max_memory = max_memory
        self._memory: OrderedDict[str, pd.DataFrame] = OrderedDict()
        self._lock = threading.Lock()

    def directory(self) -> Path:
        """``cache_root() / kind``."""
        return cache_root() / self.kind

    def key(self, conn: sa.Connection, parts: dict) -> tuple[str, str]:
        """(store prefix, full key) of ``parts`` at the store's current data version."""
        return self.keys(conn, [parts])[0]

    def keys(self, conn: sa.Connection, parts: list[dict]) -> list[tuple[str, str]]:
        """:meth:`key` of each of ``parts`` (the data version read once)."""
        store, version = store_key(conn), data_version_key(conn)
        return [(store, f"{store}-{version}-{_parts_key({'v': self.version, **p})}") for p in parts]

    def clear_memory(self) -> None:
        """Forget the entries held in memory (the files stay)."""
        with self._lock:
            self._memory.clear()

    def get(self, key: str) -> pd.DataFrame | None:
        """The entry ``key`` (from :meth:`key`), from memory or disk; None when absent."""
        with self._lock:
            hit = self._memory.get(key)
            if hit is not None:
                self._memory.move_to_end(key)
                return hit.copy()
        path = self.directory() / f"{key}.parquet"
        if not path.is_file():
            return None
        try:
            frame = pd.read_parquet(path)
        except (OSError, ValueError):  # a damaged file: compute again
            return None
        self._remember(key, frame)
        return frame.copy()

    def put(self, store: str, key: str, frame: pd.DataFrame) -> None:
        """Keep ``frame`` under ``key`` (memory and disk); drop the store's older versions."""
        self._remember(key, frame.copy())
        folder = self.directory()
        try:
            folder.mkdir(parents=True, exist_ok=True)
            tmp = folder / f".tmp-{os.getpid()}-{threading.get_ident()}-{key}.parquet"
            frame.to_parquet(tmp, index=False)
            os.replace(tmp, folder / f"{key}.parquet")
            version = key.split("-")[1]
            for old in folder.glob(f"{store}-*.parquet"):
                if old.name.split("-")[1] != version:
                    old.unlink(missing_ok=True)
        except OSError:  # a read-only cache folder: memory only
            pass

    def _remember(self, key: str, frame: pd.DataFrame) -> None:
        with self._lock:
            self._memory[key] = frame
            self._memory.move_to_end(key)
            while len(self._memory) > self.max_memory:
                self._memory.popitem(last=False)
