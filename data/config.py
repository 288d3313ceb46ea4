"""Where Daihou's settings come from.

Order, first found wins:

1. environment variables (``DAIHOU_DB_URL``, ``DAIHOU_REGION_SET``, ``DAIHOU_CURRENCY``,
   ``DAIHOU_GEOJSON``, ``DAIHOU_GEOJSON_CODE``, ``DAIHOU_GEOJSON_NAME``, ``DAIHOU_SECRET_KEY``,
   ``DAIHOU_DUCKDB_MEMORY``);
2. ``.streamlit/secrets.toml`` in the repository root: ``[connections.daihou] url`` for the
   store, and a ``[daihou]`` table for the rest (``region_set``, ``currency``, ``geojson``,
   ``geojson_code_property``, ``secret_key``, ``duckdb_memory``);
3. defaults: an embedded DuckDB file ``daihou.duckdb`` in the repository root (git ignores
   it), region set ``cn_provinces``, currency ``CNY``, DuckDB memory limit ``2GB``.

``duckdb_memory`` caps the embedded store's working memory per process (DuckDB's
``memory_limit``, e.g. ``2GB``; ``none`` for DuckDB's own default of 80 % of RAM): large
queries (the early-warning back-test over every month at 1M loans) spill to a temporary
folder beside the store instead of taking 4-5 GB, at some cost in time.
"""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

__all__ = ["REPO_ROOT", "Settings", "settings", "default_db_url"]

REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_DB_FILE = REPO_ROOT / "daihou.duckdb"
DEFAULT_DUCKDB_MEMORY = "2GB"


def _secrets() -> dict:
    path = Path(os.environ.get("DAIHOU_SECRETS_FILE", REPO_ROOT / ".streamlit" / "secrets.toml"))
    if not path.is_file():
        return {}
    with path.open("rb") as fh:
        return tomllib.load(fh)


def default_db_url() -> str:
    """The embedded DuckDB store in the repository root."""
    return f"duckdb:///{DEFAULT_DB_FILE}"


@dataclass(frozen=True)
class Settings:
    """Resolved configuration. ``currency`` is an ISO 4217 code."""

    db_url: str
    region_set: str
    currency: str
    geojson_path: str | None
    geojson_code_property: str | None
    geojson_name_property: str | None
    secret_key: str | None
    duckdb_memory: str = DEFAULT_DUCKDB_MEMORY


def settings() -> Settings:
    """Read the configuration now (cheap; not cached so tests can change the environment)."""
    sec = _secrets()
    app = sec.get("daihou", {})
    conn = sec.get("connections", {}).get("daihou", {})
    env = os.environ.get
    return Settings(
        db_url=env("DAIHOU_DB_URL") or conn.get("url") or default_db_url(),
        region_set=env("DAIHOU_REGION_SET") or app.get("region_set") or "cn_provinces",
        currency=env("DAIHOU_CURRENCY") or app.get("currency") or "CNY",
        geojson_path=env("DAIHOU_GEOJSON") or app.get("geojson"),
        geojson_code_property=env("DAIHOU_GEOJSON_CODE") or app.get("geojson_code_property"),
        geojson_name_property=env("DAIHOU_GEOJSON_NAME") or app.get("geojson_name_property"),
        secret_key=env("DAIHOU_SECRET_KEY") or app.get("secret_key"),
        duckdb_memory=env("DAIHOU_DUCKDB_MEMORY") or app.get("duckdb_memory") or DEFAULT_DUCKDB_MEMORY,
    )
