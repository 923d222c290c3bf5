"""The label store: an append-only log of label events; current labels are derived from it.

Two engines behind one class: SQLite (a file in the workspace, the default) and PostgreSQL (a URL,
through psycopg 3, for a team whose annotators write from several machines). Undo and redo are
events too (``kind`` 'undo' or 'redo' pointing at a label event), so nothing is ever deleted and
the full history survives restarts. Every write is its own committed transaction, one writer at a
time (SQLite's ``BEGIN IMMEDIATE`` in WAL with ``synchronous=FULL``; PostgreSQL's transaction-level
advisory lock): when `LabelStore.add` returns, the label is on disk.

Tables derived from the log inside the same transactions that write it, so that reading the state
of a million-event log costs nothing: ``current_items`` (per pool item the event that counts now),
``tallies`` (current labels per source and class, live generated samples per mode and class),
``opinions`` (each annotator's newest live label of an item, review left out) and ``pairs`` (per pair
of annotators, how often one said a where the other said b: Cohen's kappa without the log).
`LabelStore.rebuild` makes them again from the log (a store from an older tuilabel is upgraded that
way when it opens).

Leases (``leases``) say which session is showing which item, so that concurrent annotators are
handed different items (`LabelStore.claim`) unless overlap is asked for.
"""

from .log import LabelStore
from .schema import LEASE_SECONDS, SOURCES, UNSURE, LabelEvent, default_annotator, is_url, shown_location

__all__ = ["LEASE_SECONDS", "SOURCES", "UNSURE", "LabelEvent", "LabelStore", "default_annotator", "is_url",
           "shown_location"]
