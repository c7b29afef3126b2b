"""Which database class mode uses: $DIFFVIZ_DB_URL (PostgreSQL), else SQLite in the data folder."""


from __future__ import annotations

import os
from pathlib import Path

from diffviz.classroom.store import ClassStore

DB_FILE = "classes.sqlite3"


def sqlite_path(data_dir=None) -> Path:
    """The SQLite file class mode uses: in ``data_dir``, else $DIFFVIZ_DATA, else <repo>/data/."""
    from diffviz.paths import DATA_DIR
    base = data_dir or os.environ.get("DIFFVIZ_DATA") or DATA_DIR
    return Path(base) / DB_FILE


def open_store(url: str | None = None, data_dir=None, **kw) -> ClassStore:
    """The store at ``url`` (postgresql://..., or sqlite:///path), else $DIFFVIZ_DB_URL, else SQLite."""
    from diffviz.classroom.backends import PostgresBackend, SQLiteBackend
    url = url if url is not None else os.environ.get("DIFFVIZ_DB_URL", "").strip()
    if url.startswith(("postgresql://", "postgres://")):
        return ClassStore(PostgresBackend(url), **kw)
    if url.startswith("sqlite:///"):
        return ClassStore(SQLiteBackend(url[len("sqlite:///"):]), **kw)
    if url:
        raise ValueError("DIFFVIZ_DB_URL must start with postgresql:// or sqlite:///")
    return ClassStore(SQLiteBackend(sqlite_path(data_dir)), **kw)
