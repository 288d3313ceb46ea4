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

An entry is one DataFrame (:meth:`ResultCache.get` / :meth:`~ResultCache.put`) or a
:class:`Bundle` of several named frames and a small JSON-able dict (:meth:`~ResultCache.get_bundle`
/ :meth:`~ResultCache.put_bundle`; the customer segments of ``data.customers``).

Files live in ``$DAIHOU_CACHE_DIR/<kind>/`` (else ``<repo>/.cache/<kind>/``): a frame as
``<store>-<version>-<parts>.parquet``, a bundle as the folder ``<store>-<version>-<parts>/``
holding ``<name>.parquet`` per frame and ``bundle.json`` (the frames' names and the meta).
Writing an entry deletes the same store's entries of older data versions. Writes go to a
temporary file or folder that is renamed into place, so a reader sees a whole entry or
none. Only the app's own Parquet and JSON files are read (no pickle).
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import threading
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd
import sqlalchemy as sa

from data.config import REPO_ROOT
from data.schema import ImportBatch, Loan, Performance

__all__ = ["cache_root", "store_key", "data_version_key", "Bundle", "ResultCache"]


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


_FRAME_NAME = re.compile(r"[A-Za-z0-9_]+")


@dataclass(frozen=True)
class Bundle:
    """One cache entry of several named frames and a small JSON-able dict (``meta``).

    Frame names are file names: letters, digits and ``_``. ``meta`` comes back as JSON
    gives it (dict keys as strings, tuples as lists), from memory as from disk.
    """

    frames: dict[str, pd.DataFrame]
    meta: dict = field(default_factory=dict)

    def copy(self) -> Bundle:
        """A copy: the frames copied, the meta through JSON."""
        return Bundle({n: f.copy() for n, f in self.frames.items()}, json.loads(json.dumps(self.meta)))


def _remove(path: Path) -> None:
    """Delete a file or a folder, if there."""
    if path.is_dir():
        shutil.rmtree(path, ignore_errors=True)
    else:
        path.unlink(missing_ok=True)


class ResultCache:
    """Entries of one kind of result, keyed by store, data version and parts.

    :meth:`key` takes the connection (for the store and its data version) and a JSON-able
    dict of the parts that identify the result; ``get``/``put`` keep one DataFrame,
    ``get_bundle``/``put_bundle`` a :class:`Bundle` (use one or the other for a kind).
    Memory keeps the latest ``max_memory`` entries; disk keeps every entry of the store's
    current data version.
    """

    def __init__(self, kind: str, version: int, max_memory: int = 256) -> None:
        self.kind = kind
        self.version = version
        self.max_memory = max_memory
        self._memory: OrderedDict[str, pd.DataFrame | Bundle] = OrderedDict()
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
        """The frame ``key`` (from :meth:`key`), from memory or disk; None when absent."""
        hit = self._recall(key, pd.DataFrame)
        if hit is not None:
            return hit
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
        self._write(store, key, f"{key}.parquet", lambda tmp: frame.to_parquet(tmp, index=False))

    def get_bundle(self, key: str) -> Bundle | None:
        """The bundle ``key`` (from :meth:`key`), from memory or disk; None when absent."""
        hit = self._recall(key, Bundle)
        if hit is not None:
            return hit
        folder = self.directory() / key
        if not folder.is_dir():
            return None
        try:
            spec = json.loads((folder / "bundle.json").read_text())
            bundle = Bundle({n: pd.read_parquet(folder / f"{n}.parquet") for n in spec["frames"]}, spec["meta"])
        except (OSError, ValueError, KeyError, TypeError):  # damaged, or deleted meanwhile: compute again
            return None
        self._remember(key, bundle)
        return bundle.copy()

    def put_bundle(self, store: str, key: str, bundle: Bundle) -> None:
        """Keep ``bundle`` under ``key`` (memory and disk); drop the store's older versions.

        Raises ValueError for a frame name that is not a plain file name and TypeError for
        a meta that JSON cannot hold.
        """
        bad = [n for n in bundle.frames if not _FRAME_NAME.fullmatch(n)]
        if bad:
            raise ValueError(f"frame names must be letters, digits and _: {bad}")
        spec = json.dumps({"frames": list(bundle.frames), "meta": bundle.meta})
        self._remember(key, bundle.copy())

        def write(tmp: Path) -> None:
            tmp.mkdir()
            for name, frame in bundle.frames.items():
                frame.to_parquet(tmp / f"{name}.parquet", index=False)
            (tmp / "bundle.json").write_text(spec)

        self._write(store, key, key, write)

    def _write(self, store: str, key: str, name: str, write: Callable[[Path], None]) -> None:
        """``write`` a temporary file or folder, rename it to ``name`` in :meth:`directory`,
        then delete the store's entries of other data versions. A folder already there
        (another process wrote the same entry) stays. A read-only cache folder: memory only."""
        folder = self.directory()
        tmp = folder / f".tmp-{os.getpid()}-{threading.get_ident()}-{name}"
        try:
            folder.mkdir(parents=True, exist_ok=True)
            write(tmp)
            try:
                os.replace(tmp, folder / name)
            except OSError:
                if not tmp.is_dir():
                    raise
                shutil.rmtree(tmp, ignore_errors=True)
            version = key.split("-")[1]
            for old in folder.glob(f"{store}-*"):
                if old.name.split("-")[1] != version:
                    _remove(old)
        except OSError:
            _remove(tmp)

    def _recall(self, key: str, kind: type) -> pd.DataFrame | Bundle | None:
        """A copy of the memory entry ``key`` when it is a ``kind``, else None."""
        with self._lock:
            hit = self._memory.get(key)
            if not isinstance(hit, kind):
                return None
            self._memory.move_to_end(key)
        return hit.copy()

    def _remember(self, key: str, entry: pd.DataFrame | Bundle) -> None:
        with self._lock:
            self._memory[key] = entry
            self._memory.move_to_end(key)
            while len(self._memory) > self.max_memory:
                self._memory.popitem(last=False)
