"""A local SQLite log of every solve, tutor turn and batch result (like `llm logs`).

It lives in the user's data directory: $PHIFLASH_HOME, else $XDG_DATA_HOME/phiflash, else
~/.local/share/phiflash. PHIFLASH_NO_LOG=1 or --no-log turns recording off.
"""

from __future__ import annotations

import json
import os
import sqlite3
import time
from pathlib import Path

SCHEMA = """CREATE TABLE IF NOT EXISTS entries (
    id INTEGER PRIMARY KEY AUTOINCREMENT, time REAL NOT NULL, kind TEXT NOT NULL, engine TEXT,
    problem TEXT, answer TEXT, verdict TEXT, data TEXT)"""


def data_dir() -> Path:
    if os.environ.get("PHIFLASH_HOME"):
        return Path(os.environ["PHIFLASH_HOME"])
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "phiflash"


def log_path() -> Path:
    return data_dir() / "logs.db"


def logging_enabled(no_log: bool = False) -> bool:
    return not no_log and os.environ.get("PHIFLASH_NO_LOG", "") not in ("1", "true", "yes")


def _connect() -> sqlite3.Connection:
    path = log_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    conn = sqlite3.connect(path)
    conn.execute(SCHEMA)
    return conn


def record(kind: str, engine: str | None, problem: str | None, answer: str | None, verdict: str | None,
           data: dict | None = None, no_log: bool = False) -> None:
    """Best effort: a read-only or full disk never breaks a solve."""
    if not logging_enabled(no_log):
        return
    try:
        with _connect() as conn:
            conn.execute("INSERT INTO entries (time, kind, engine, problem, answer, verdict, data) "
                         "VALUES (?, ?, ?, ?, ?, ?, ?)",
                         (time.time(), kind, engine, problem, answer, verdict, json.dumps(data or {})))
    except (sqlite3.Error, OSError):
        pass


def recent(limit: int = 20) -> list[dict]:
    if not log_path().exists():
        return []
    with _connect() as conn:
        rows = conn.execute("SELECT id, time, kind, engine, problem, answer, verdict, data FROM entries "
                            "ORDER BY id DESC LIMIT ?", (limit,)).fetchall()
    keys = ("id", "time", "kind", "engine", "problem", "answer", "verdict", "data")
    out = []
    for row in rows:
        d = dict(zip(keys, row))
        d["data"] = json.loads(d["data"] or "{}")
        out.append(d)
    return out
