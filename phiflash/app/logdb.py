"""A local SQLite log of every solve, tutor turn and batch result (like `llm logs`).

It lives in the user's data directory: $PHIFLASH_HOME, else $XDG_DATA_HOME/phiflash, else
~/.local/share/phiflash. PHIFLASH_NO_LOG=1 or --no-log turns recording off.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import sqlite3
import time
from pathlib import Path

from .record import SCHEMA as RECORD_SCHEMA
from .record import VERDICTS
from .record import make as make_record

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


def record(rec: dict, no_log: bool = False) -> None:
    """Keep one result record (phiflash.app.record). Best effort: a read-only or full disk never breaks a solve."""
    if not logging_enabled(no_log):
        return
    try:
        with _connect() as conn:
            conn.execute("INSERT INTO entries (time, kind, engine, problem, answer, verdict, data) "
                         "VALUES (?, ?, ?, ?, ?, ?, ?)",
                         (time.time(), rec["command"], rec["engine"], rec["problem"], rec["answer"], rec["verdict"],
                          json.dumps(rec, ensure_ascii=False)))
    except (sqlite3.Error, OSError):
        pass


def recent(limit: int | None = 20) -> list[dict]:
    """The newest entries first, as result records (`limit` None: all). Entries written before the record schema
    are rebuilt from their columns."""
    if not log_path().exists():
        return []
    with _connect() as conn:
        rows = conn.execute("SELECT time, kind, engine, problem, answer, verdict, data FROM entries "
                            "ORDER BY id DESC LIMIT ?", (-1 if limit is None else limit,)).fetchall()
    out = []
    for when, kind, engine, problem, answer, verdict, data in rows:
        try:
            d = json.loads(data or "{}")
        except json.JSONDecodeError:
            d = {}
        if not (isinstance(d, dict) and d.get("schema") == RECORD_SCHEMA):
            stamp = dt.datetime.fromtimestamp(when, dt.timezone.utc).isoformat(timespec="seconds")
            d = make_record(kind, time=stamp, engine=engine, problem=problem, answer=answer,
                            verdict=verdict if verdict in VERDICTS else None)
        out.append(d)
    return out
