"""The results store of sweeps: one SQLite file, written by the driver alone, point by point.

Tables (docs/formats.md, "Results store"):
- `meta`: the schema number and the simcache version that created the store;
- `points`: one row per point: id, sweep, axis values (JSON), status (`done` or `failed`),
  the error of a failed point, seconds, when it finished, and the full result document;
- `levels`: one row per point, network layer, level and tensor (`*` for all tensors) with
  the counters, cycles, energy and 3C kinds.

Every point is committed in its own transaction, so an interrupted sweep keeps every point
that finished, and a point is either wholly in the store or not at all.
"""

from __future__ import annotations

import json
import os
import sqlite3
import stat
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from . import __version__
from .errors import SimcacheError

SCHEMA = 1
_TABLES = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS points (
    id TEXT PRIMARY KEY,
    sweep TEXT NOT NULL,
    seq INTEGER NOT NULL,
    axes TEXT NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('done', 'failed')),
    error TEXT,
    seconds REAL,
    finished TEXT NOT NULL,
    result TEXT
);
CREATE TABLE IF NOT EXISTS levels (
    point TEXT NOT NULL REFERENCES points(id) ON DELETE CASCADE,
    layer TEXT NOT NULL,
    level TEXT NOT NULL,
    tensor TEXT NOT NULL,
    reads INTEGER, writes INTEGER, hits INTEGER, misses INTEGER, hit_rate REAL,
    writebacks INTEGER, bytes_read INTEGER, bytes_written INTEGER, cycles INTEGER,
    energy_low REAL, energy_high REAL,
    compulsory INTEGER, capacity INTEGER, conflict INTEGER,
    PRIMARY KEY (point, layer, level, tensor)
);
"""
LEVEL_COLUMNS = ("reads", "writes", "hits", "misses", "hit_rate", "writebacks", "bytes_read",
                 "bytes_written", "cycles")


def _level_rows(doc: dict, layer: str) -> Iterable[tuple]:
    for lv in doc["levels"]:
        parts = [("*", lv)] + list(lv.get("by_tensor", {}).items())
        for tensor, c in parts:
            ccc = c.get("three_c") or {}
            yield (layer, lv["name"], tensor, *[c.get(k) for k in LEVEL_COLUMNS],
                   c["energy_pj"]["low"], c["energy_pj"]["high"], ccc.get("compulsory"),
                   ccc.get("capacity"), ccc.get("conflict"))


def level_rows(doc: dict) -> list[tuple]:
    """The `levels` rows of a result document (a run, or a network: a set per layer)."""
    if "network" in doc:
        return [r for row, run in zip(doc["rows"], doc["runs"], strict=True)
                for r in _level_rows(run, row["name"])]
    return list(_level_rows(doc, ""))


class Store:
    """A results store, opened for reading (`writable=False`) or for a sweep."""

    def __init__(self, path: str | Path, writable: bool = True, flag: str = "DB"):
        self.path = Path(path)
        self.flag = flag
        self._check_path(writable)
        try:
            uri = f"{self.path.resolve().as_uri()}?mode={'rwc' if writable else 'ro'}"
            self.db = sqlite3.connect(uri, uri=True, timeout=30, isolation_level=None)
            self.db.execute("PRAGMA foreign_keys = ON")
            self._check_schema(writable)
        except sqlite3.DatabaseError as exc:
            raise SimcacheError([f"{flag}: {self.path}: not a simcache results store "
                                 f"({exc})"]) from None

    def _check_path(self, writable: bool) -> None:
        self._check_path_of(self.path, writable, self.flag)

    @staticmethod
    def _check_path_of(path: Path, writable: bool, flag: str) -> None:
        try:
            st = os.stat(path)
        except FileNotFoundError:
            if not writable:
                raise SimcacheError([f"{flag}: {path}: no such file"]) from None
            if not path.parent.is_dir():
                raise SimcacheError([f"{flag}: {path}: the folder {path.parent} does not "
                                     "exist"]) from None
            if not os.access(path.parent, os.W_OK):
                raise SimcacheError([f"{flag}: {path}: cannot write in {path.parent}"]) from None
            return
        except OSError as exc:
            raise SimcacheError([f"{flag}: {path}: {exc.strerror}"]) from None
        if not stat.S_ISREG(st.st_mode):
            kind = "a directory" if stat.S_ISDIR(st.st_mode) else "not a regular file"
            raise SimcacheError([f"{flag}: {path}: {kind}"])

    def _check_schema(self, writable: bool) -> None:
        tables = {r[0] for r in self.db.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table'")}
        if not tables:
            if not writable:
                raise SimcacheError([f"{self.flag}: {self.path}: an empty file, not a "
                                     "results store"])
            meta = f"('schema', '{SCHEMA}'), ('simcache', '{__version__}'), ('created', '{_now()}')"
            self.db.executescript(f"BEGIN; {_TABLES} INSERT INTO meta VALUES {meta}; COMMIT;")
            return
        if "meta" not in tables or "points" not in tables:
            raise SimcacheError([f"{self.flag}: {self.path}: an SQLite file, but not a "
                                 "simcache results store"])
        meta = dict(self.db.execute("SELECT key, value FROM meta"))
        if meta.get("schema") != str(SCHEMA):
            raise SimcacheError([f"{self.flag}: {self.path}: written by simcache "
                                 f"{meta.get('simcache', '?')} in store format "
                                 f"{meta.get('schema', '?')}; this simcache {__version__} "
                                 f"reads format {SCHEMA}: use a new store"])
        self.version = meta.get("simcache")
        if writable and self.version != __version__:
            raise SimcacheError([f"{self.flag}: {self.path}: its results are of simcache "
                                 f"{self.version}; this is {__version__}, whose results "
                                 "would differ: sweep into a new store"])

    def close(self) -> None:
        self.db.close()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    # ------------------------------------------------------------ writing

    def done(self) -> set[str]:
        return {r[0] for r in self.db.execute("SELECT id FROM points WHERE status = 'done'")}

    def record(self, point_id: str, sweep: str, seq: int, axes: dict, seconds: float,
               doc: dict | None = None, error: str | None = None) -> None:
        """One point, whole, in one transaction (a failed point has `error`, no doc)."""
        rows = level_rows(doc) if doc is not None else []
        with self.db:
            self.db.execute("BEGIN IMMEDIATE")
            self.db.execute("DELETE FROM points WHERE id = ?", (point_id,))
            self.db.execute(
                "INSERT INTO points VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (point_id, sweep, seq, json.dumps(axes, default=str),
                 "failed" if error is not None else "done", error, seconds, _now(),
                 json.dumps(doc) if doc is not None else None))
            self.db.executemany(f"INSERT INTO levels VALUES (?{', ?' * 17})",
                                [(point_id, *r) for r in rows])

    # ------------------------------------------------------------ reading

    def points(self, sweep: str | None = None, status: str | None = None) -> list[dict]:
        """Every point (in the order of its sweep's spec), with its axes and document."""
        query = "SELECT id, sweep, seq, axes, status, error, seconds, finished, result " \
                "FROM points"
        where, args = [], []
        if sweep is not None:
            where.append("sweep = ?")
            args.append(sweep)
        if status is not None:
            where.append("status = ?")
            args.append(status)
        if where:
            query += " WHERE " + " AND ".join(where)
        query += " ORDER BY sweep, seq"
        out = []
        for pid, sw, seq, axes, st, error, secs, fin, result in self.db.execute(query, args):
            out.append({"id": pid, "sweep": sw, "seq": seq, "axes": json.loads(axes),
                        "status": st, "error": error, "seconds": secs, "finished": fin,
                        "result": json.loads(result) if result else None})
        return out

    def sweeps(self) -> list[str]:
        return [r[0] for r in self.db.execute("SELECT DISTINCT sweep FROM points ORDER BY 1")]


def _now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


def probe(path: str | Path, flag: str = "DB") -> set[str]:
    """The ids of the points a store holds as done, without creating or changing anything:
    an empty set for a store that does not exist yet; an error for a file that is not a
    store this simcache can write to."""
    p = Path(path)
    if not p.exists() and not p.is_symlink():
        Store._check_path_of(p, True, flag)
        return set()
    with Store(p, writable=False, flag=flag) as st:
        if st.version != __version__:
            raise SimcacheError([f"{flag}: {p}: its results are of simcache {st.version}; this "
                                 f"is {__version__}, whose results would differ: sweep into a "
                                 "new store"])
        return st.done()
