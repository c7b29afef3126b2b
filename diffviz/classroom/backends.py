"""Two databases behind one tiny interface: SQLite (a file, the default) and PostgreSQL (a URL).

The store writes its SQL once, with ``?`` placeholders and statements both dialects accept
(``INSERT ... ON CONFLICT ... DO UPDATE``, ``CREATE TABLE IF NOT EXISTS``); a backend only opens
connections and runs one transaction at a time on each:

    with backend.transaction() as db:
        rows = db.query("SELECT ... WHERE code = ?", (code,))
        n = db.execute("UPDATE ...", (...))          # rows changed

SQLite: one file in WAL mode (readers never wait for the writer; several server processes on one
machine share it) with ``synchronous=NORMAL``: a committed answer is in the write-ahead log before
the call returns, so it survives the server process crashing or restarting (only a power cut of the
whole machine could take the last few commits; FULL would fsync every answer, ~30 ms each here). A new
connection per transaction with a 10 s busy timeout (writers queue instead of failing).
PostgreSQL: ``psycopg`` (3), a small pool of connections, each transaction committed on exit.
"""

from __future__ import annotations

import contextlib
import queue
import sqlite3
import threading
from pathlib import Path

SCHEMA = (
    """CREATE TABLE IF NOT EXISTS classes (
        code TEXT PRIMARY KEY,
        key_hash TEXT NOT NULL,
        title TEXT NOT NULL,
        settings TEXT NOT NULL,
        questions TEXT NOT NULL,
        step INTEGER NOT NULL DEFAULT 0,
        created DOUBLE PRECISION NOT NULL,
        expires DOUBLE PRECISION NOT NULL,
        closed DOUBLE PRECISION)""",
    """CREATE TABLE IF NOT EXISTS students (
        token_hash TEXT PRIMARY KEY,
        code TEXT NOT NULL REFERENCES classes(code) ON DELETE CASCADE,
        name TEXT NOT NULL,
        joined DOUBLE PRECISION NOT NULL)""",
    "CREATE INDEX IF NOT EXISTS students_by_class ON students(code)",
    """CREATE TABLE IF NOT EXISTS answers (
        token_hash TEXT NOT NULL REFERENCES students(token_hash) ON DELETE CASCADE,
        question TEXT NOT NULL,
        code TEXT NOT NULL REFERENCES classes(code) ON DELETE CASCADE,
        value TEXT NOT NULL,
        answered DOUBLE PRECISION NOT NULL,
        PRIMARY KEY (token_hash, question))""",
    "CREATE INDEX IF NOT EXISTS answers_by_question ON answers(code, question)",
    """CREATE TABLE IF NOT EXISTS reveals (
        code TEXT NOT NULL REFERENCES classes(code) ON DELETE CASCADE,
        question TEXT NOT NULL,
        revealed DOUBLE PRECISION NOT NULL,
        PRIMARY KEY (code, question))""",
    """CREATE TABLE IF NOT EXISTS truths (
        code TEXT NOT NULL REFERENCES classes(code) ON DELETE CASCADE,
        question TEXT NOT NULL,
        truth TEXT NOT NULL,
        PRIMARY KEY (code, question))""",
)


class Cursor:
    """What a transaction offers: `query` (rows as tuples) and `execute` (rows changed)."""

    def __init__(self, raw, paramstyle: str):
        self._raw = raw
        self._pyformat = paramstyle == "pyformat"

    def _sql(self, sql: str) -> str:
        return sql.replace("?", "%s") if self._pyformat else sql

    def query(self, sql: str, params: tuple = ()) -> list[tuple]:
        """Run a SELECT; its rows as tuples."""
        cur = self._raw.execute(self._sql(sql), params)
        return [tuple(r) for r in cur.fetchall()]

    def execute(self, sql: str, params: tuple = ()) -> int:
        """Run a statement; how many rows it changed."""
        return self._raw.execute(self._sql(sql), params).rowcount


class SQLiteBackend:
    """One SQLite file, created (with its folder and tables) on first use."""

    name = "sqlite"

    def __init__(self, path):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        con = self._connect()
        try:
            con.execute("PRAGMA journal_mode=WAL")             # stays set in the file
            con.execute("BEGIN IMMEDIATE")
            for stmt in SCHEMA:
                con.execute(stmt)
            con.execute("COMMIT")
        finally:
            con.close()

    def _connect(self) -> sqlite3.Connection:
        con = sqlite3.connect(str(self.path), timeout=10, isolation_level=None, check_same_thread=False)
        con.execute("PRAGMA busy_timeout=10000")
        con.execute("PRAGMA synchronous=NORMAL")
        con.execute("PRAGMA foreign_keys=ON")
        return con

    @contextlib.contextmanager
    def transaction(self):
        """One write transaction (BEGIN IMMEDIATE: writers queue on the lock, never deadlock)."""
        con = self._connect()
        try:
            con.execute("BEGIN IMMEDIATE")
            try:
                yield Cursor(con, "qmark")
            except BaseException:
                con.execute("ROLLBACK")
                raise
            con.execute("COMMIT")
        finally:
            con.close()

    def describe(self) -> str:
        """Where the data lives, in words."""
        return f"SQLite file {self.path}"

    def close(self) -> None:
        """Nothing stays open between transactions."""


class PostgresBackend:
    """A PostgreSQL database at ``url`` (``postgresql://user:pw@host:port/db``), tables created on first use."""

    name = "postgresql"

    def __init__(self, url: str, pool_size: int = 8):
        import psycopg  # only needed when a URL is configured
        self._psycopg = psycopg
        self.url = url
        self._pool: queue.LifoQueue = queue.LifoQueue()
        self._slots = threading.BoundedSemaphore(pool_size)
        with self.transaction() as db:
            db.query("SELECT pg_advisory_xact_lock(724513)")   # two processes starting at once: one creates
            for stmt in SCHEMA:
                db.execute(stmt)

    @contextlib.contextmanager
    def transaction(self):
        """One transaction on a pooled connection (at most ``pool_size`` at once; others wait)."""
        self._slots.acquire()
        con = None
        try:
            try:
                con = self._pool.get_nowait()
            except queue.Empty:
                con = self._psycopg.connect(self.url, connect_timeout=10, autocommit=True)   # BEGIN/COMMIT by transaction()
            broken = False
            try:
                with con.transaction():
                    yield Cursor(con, "pyformat")
            except self._psycopg.OperationalError:
                broken = True
                raise
            finally:
                if broken or con.closed:
                    con.close()
                else:
                    self._pool.put(con)
        finally:
            self._slots.release()

    def describe(self) -> str:
        """Where the data lives, in words (no password)."""
        from urllib.parse import urlsplit
        u = urlsplit(self.url)
        return f"PostgreSQL database {u.path.lstrip('/') or '?'} on {u.hostname or 'a local socket'}"

    def close(self) -> None:
        """Close the pooled connections."""
        while True:
            try:
                self._pool.get_nowait().close()
            except queue.Empty:
                return
