"""The label store's tables, the SQL both engines share, and the event a reader gets back."""

from __future__ import annotations

import re
import socket
from dataclasses import dataclass
from pathlib import Path

import numpy as np

SOURCES = ("human", "pseudo", "propagated")
UNSURE = None  # a label of None means "unsure / not any class"
DERIVED_VERSION = "4"  # of the derived tables; a store without it is rebuilt from its log on opening
LEASE_SECONDS = 300.0  # a lease not renewed for this long is free again (an annotator who left)
PG_LOCK = 0x7475696C  # the advisory lock every PostgreSQL writer takes: one write at a time

# {placeholders} differ between the engines (see _DIALECTS)
SCHEMA = """
CREATE TABLE IF NOT EXISTS sessions (
    id TEXT PRIMARY KEY,
    mode TEXT NOT NULL,
    annotator TEXT NOT NULL,
    started {real} NOT NULL
);
CREATE TABLE IF NOT EXISTS events (
    id {serial},
    kind TEXT NOT NULL CHECK (kind IN ('label', 'undo', 'redo')),
    target {bigint} REFERENCES events(id),
    item_id TEXT,
    sample {blob},
    sample_shape TEXT,
    label INTEGER,
    source TEXT NOT NULL DEFAULT 'human' CHECK (source IN ('human', 'pseudo', 'propagated')),
    confidence {real} NOT NULL DEFAULT 1.0,
    annotator TEXT NOT NULL,
    mode TEXT NOT NULL,
    session TEXT NOT NULL,
    time {real} NOT NULL
);
CREATE INDEX IF NOT EXISTS events_target ON events(target);
CREATE INDEX IF NOT EXISTS events_session ON events(session, id);
CREATE INDEX IF NOT EXISTS events_session_time ON events(session, time);
CREATE INDEX IF NOT EXISTS events_item ON events(item_id);
CREATE TABLE IF NOT EXISTS current_items (
    item_id TEXT PRIMARY KEY,
    event {bigint} NOT NULL,
    source TEXT NOT NULL,
    label INTEGER
);
CREATE TABLE IF NOT EXISTS tallies (
    what TEXT NOT NULL,
    label INTEGER NOT NULL,
    n {bigint} NOT NULL,
    PRIMARY KEY (what, label)
);
CREATE TABLE IF NOT EXISTS opinions (
    item_id TEXT NOT NULL,
    annotator TEXT NOT NULL,
    label INTEGER NOT NULL,
    PRIMARY KEY (item_id, annotator)
);
CREATE TABLE IF NOT EXISTS pairs (
    one TEXT NOT NULL,
    other TEXT NOT NULL,
    a INTEGER NOT NULL,
    b INTEGER NOT NULL,
    n {bigint} NOT NULL,
    PRIMARY KEY (one, other, a, b)
);
CREATE TABLE IF NOT EXISTS leases (
    item_id TEXT NOT NULL,
    session TEXT NOT NULL,
    annotator TEXT NOT NULL,
    expires {real} NOT NULL,
    PRIMARY KEY (item_id, session)
);
CREATE INDEX IF NOT EXISTS leases_session ON leases(session);
CREATE TABLE IF NOT EXISTS meta (
    key TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
{view} live_events AS
    SELECT e.* FROM events e WHERE e.kind = 'label' AND {live};
{view} current_labels AS
    SELECT e.* FROM current_items c JOIN events e ON e.id = c.event;
"""

# A label event is live unless the latest undo/redo that targets it is an undo.
LIVE = ("COALESCE((SELECT u.kind FROM events u WHERE u.target = e.id ORDER BY u.id DESC LIMIT 1),"
        " 'redo') = 'redo'")
# Per item the newest live event of the strongest source counts: human, then propagated, then pseudo.
PRIORITY = "CASE e.source WHEN 'human' THEN 0 WHEN 'propagated' THEN 1 ELSE 2 END, e.id DESC"

_DIALECTS = {
    "sqlite": {"serial": "INTEGER PRIMARY KEY AUTOINCREMENT", "bigint": "INTEGER", "blob": "BLOB",
               "real": "REAL", "view": "CREATE VIEW IF NOT EXISTS", "live": LIVE},
    "postgresql": {"serial": "BIGSERIAL PRIMARY KEY", "bigint": "BIGINT", "blob": "BYTEA",
                   "real": "DOUBLE PRECISION", "view": "CREATE OR REPLACE VIEW", "live": LIVE},
}


def is_url(location: str | Path) -> bool:
    """Whether a store location is a PostgreSQL URL (anything else is an SQLite file)."""
    return str(location).startswith(("postgresql://", "postgres://"))


def shown_location(location: str | Path) -> str:
    """A store location for messages: a URL without its password."""
    return re.sub(r"(://[^:/@]*):[^@/]+@", r"\1:***@", str(location))


def _pg_statement(sql: str) -> str:
    return sql.replace("?", "%s")


@dataclass(frozen=True)
class LabelEvent:
    """One live label: an item of the pool, or a generated sample with its pixels."""

    id: int
    item_id: str | None
    label: int | None
    source: str
    confidence: float
    annotator: str
    mode: str
    session: str
    time: float
    sample: np.ndarray | None = None


def default_annotator() -> str:
    import getpass

    try:
        user = getpass.getuser()  # LOGNAME, USER, LNAME, USERNAME, then the password database
    except (OSError, KeyError):
        user = "user"  # no name anywhere (a container's uid without an entry)
    return f"{user}@{socket.gethostname()}"
