"""Change tracking for the query results that the hot path keeps in memory.

An authenticated call depends on a few rows: the access token, the user, the
permission and the integration's enable switch. Reading them on every call
costs more than the rest of the call's own work, so :class:`RememberedQuery`
keeps their results in memory, and this module tracks when those results may
have gone stale.

Every write through a model whose ``Meta`` sets ``track_changes`` raises a
counter in this process at once, and raises a counter row in the database as
the last statement of its transaction. Other processes (the command line,
a second gateway) see their writes through that row, which each process reads
at most every :attr:`ChangeTracker.poll_seconds`. A remembered result is
dropped as soon as either counter moves.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections.abc import Callable, Hashable
from typing import Any, Generic, ParamSpec, TypeVar

import peewee

#: The one-row table that every process raises on a tracked write.
CREATE_COUNTER_TABLE = (
    'CREATE TABLE IF NOT EXISTS "change_counter"'
    ' ("id" INTEGER NOT NULL PRIMARY KEY, "value" BIGINT NOT NULL)'
)
SEED_COUNTER = 'INSERT INTO "change_counter" ("id", "value") VALUES (1, 0)'
_RAISE_COUNTER = 'UPDATE "change_counter" SET "value" = "value" + 1 WHERE "id" = 1'
_READ_COUNTER = 'SELECT "value" FROM "change_counter" WHERE "id" = 1'

#: Default time between two reads of the counter row, in seconds.
DEFAULT_POLL_SECONDS = 1.0
#: A missing counter row is reported at most this often, in seconds.
MISSING_ROW_REPORT_SECONDS = 60.0

log = logging.getLogger("integration_gateway.models.changes")


def check_tracked(query: peewee.Query) -> bool:
    """Return whether the write ``query`` may change a remembered result.

    A write without a model is counted, since its table is unknown. An update
    that sets only columns named in the model's ``untracked_columns`` (such as
    a user's last use) is not.
    """
    model = getattr(query, "model", None)
    if model is None:
        return True
    meta = model._meta
    if not getattr(meta, "track_changes", False):
        return False
    untracked = getattr(meta, "untracked_columns", ())
    assignments = getattr(query, "_update", None)
    if untracked and isinstance(query, peewee.ModelUpdate) and assignments:
        return not all(field.name in untracked for field in assignments)
    return True


class ChangeTracker:
    """The process's change count, raised by tracked writes and the counter row."""

    def __init__(self, poll_seconds: float = DEFAULT_POLL_SECONDS) -> None:
        self.poll_seconds = poll_seconds
        self.count = 0
        self._database: peewee.Database | None = None
        self._row_value: int | None = None
        self._polled_at = -math.inf
        self._reported_at = -math.inf
        # A write inside a transaction is counted again when it commits or
        # rolls back, so a result read by another thread before the commit
        # cannot outlive it.
        self._open_writes = threading.local()

    def use_database(self, db: peewee.Database) -> None:
        """Forget every result: the process now reads ``db``."""
        self._database = db
        self._row_value = None
        self._polled_at = -math.inf
        self._reported_at = -math.inf
        self.count += 1

    def note_write(self) -> None:
        """Count a tracked write, made inside a transaction of this thread."""
        self.count += 1
        self._open_writes.pending = True

    def before_commit(self, db: peewee.Database) -> None:
        """Raise the counter row if the transaction about to commit needs it.

        The row is raised last, just before the commit. A transaction that
        has its lock therefore waits for no other lock, so the row cannot be
        part of a deadlock.
        """
        if getattr(self._open_writes, "pending", False):
            db.execute_sql(_RAISE_COUNTER)

    def note_transaction_end(self) -> None:
        """Count once more if the transaction that just ended held a tracked write."""
        if getattr(self._open_writes, "pending", False):
            self._open_writes.pending = False
            self.count += 1

    def current(self) -> int:
        """Return the change count, after reading the counter row when it is due.

        A failed read raises and is tried again by the next call. Without the
        row, the changes of other processes cannot be seen, so the count moves
        on every call and nothing is remembered until the row is back.
        """
        now = time.monotonic()
        if now - self._polled_at >= self.poll_seconds and self._database is not None:
            value = query_counter(self._database)
            if value is None:
                self._report_missing_row(now)
                self.count += 1
                return self.count
            self._polled_at = now
            if value != self._row_value:
                self._row_value = value
                self.count += 1
        return self.count

    def _report_missing_row(self, now: float) -> None:
        if now - self._reported_at >= MISSING_ROW_REPORT_SECONDS:
            self._reported_at = now
            log.error(
                "the change_counter table has no row, so no query result is kept in"
                " memory; restart the gateway to recreate the row"
            )


def query_counter(db: peewee.Database) -> int | None:
    """Return the value of the counter row, or None before it exists."""
    row = db.execute_sql(_READ_COUNTER).fetchone()
    return int(row[0]) if row else None


#: The tracker of this process; :func:`models.base.open_database` points it at
#: the database it opens.
tracker = ChangeTracker()

P = ParamSpec("P")
R = TypeVar("R")


class RememberedQuery(Generic[P, R]):
    """A query function whose results are kept until a tracked write.

    The function must read only tables of models that set ``track_changes``,
    and its arguments must be hashable. A None result is not kept. Callers
    must not change a returned object, since later callers get the same one.
    """

    def __init__(self, function: Callable[P, R], max_entries: int = 10_000) -> None:
        self.function = function
        self.max_entries = max_entries
        self.__doc__ = function.__doc__
        self._results: dict[Hashable, Any] = {}
        self._count = -1

    def __call__(self, *args: P.args, **kwargs: P.kwargs) -> R:
        count = tracker.current()
        if count != self._count:
            self._results = {}
            self._count = count
        key = (args, tuple(kwargs.items())) if kwargs else args
        try:
            return self._results[key]  # type: ignore[no-any-return]
        except KeyError:
            pass
        result = self.function(*args, **kwargs)
        # "Not found" is asked again: a row inserted by SQL compiled once, such
        # as a new access token, is not a tracked write.
        if result is not None:
            if len(self._results) >= self.max_entries:
                self._results = {}
            self._results[key] = result
        return result


def remembered(function: Callable[P, R]) -> RememberedQuery[P, R]:
    """Decorate a query function as a :class:`RememberedQuery`."""
    return RememberedQuery(function)
