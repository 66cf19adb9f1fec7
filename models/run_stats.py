"""Counts of integration runs for the dashboard.

The queries group in SQL and read the index on ``(started_at, integration,
status)``, but they still visit every run of the range. With a million runs
in a day, bench/admin_pages.py measured about 1 s on SQLite and 0.3 s on
PostgreSQL on a 2-CPU virtual machine, so the dashboard runs them in a worker
thread, off the event loop.
"""

from __future__ import annotations

import collections
import dataclasses
import datetime
from collections.abc import Iterable
from typing import Any, TypeVar, cast

import peewee

from models.base import database
from models.runs import SUCCEEDED, IntegrationRun

# SQLite has no date_trunc. peewee's truncate_date replaces it with a Python
# function called once per row, so SQLite groups by this text instead.
SQLITE_HOUR_FORMAT = "%Y-%m-%d %H"

Key = TypeVar("Key", str, datetime.datetime)


@dataclasses.dataclass(frozen=True)
class CallCount:
    #: An integration name, or the start of an hour (UTC).
    key: str | datetime.datetime
    calls: int
    #: Calls that did not succeed: failed, timed out or rejected by the plugin.
    errors: int

    @property
    def error_rate(self) -> float:
        return self.errors / self.calls if self.calls else 0.0


@dataclasses.dataclass(frozen=True)
class CallCounts:
    #: Calls per integration, by name.
    by_integration: list[CallCount]
    #: Calls per hour, oldest first; hours without calls are left out.
    by_hour: list[CallCount]


def _error_sum() -> peewee.Function:
    not_succeeded = peewee.Case(None, [(IntegrationRun.status != SUCCEEDED, 1)], 0)
    return peewee.fn.SUM(not_succeeded)


def _hour_of_start() -> peewee.Function:
    if isinstance(database.obj, peewee.SqliteDatabase):
        return peewee.fn.strftime(SQLITE_HOUR_FORMAT, IntegrationRun.started_at)
    return peewee.fn.date_trunc("hour", IntegrationRun.started_at)


def call_count_query(since: datetime.datetime) -> peewee.Select:
    """Build the query of calls and errors since ``since`` by hour and integration."""
    hour = _hour_of_start()
    return (
        IntegrationRun.select(
            hour.alias("hour"),
            IntegrationRun.integration,
            peewee.fn.COUNT(IntegrationRun.id).alias("calls"),
            _error_sum().alias("errors"),
        )
        .where(IntegrationRun.started_at >= since)
        .group_by(hour, IntegrationRun.integration)
        .tuples()
    )


def query_call_counts(since: datetime.datetime) -> CallCounts:
    """Count calls and errors since ``since`` per integration and per hour.

    One query groups by hour and integration together, so the runs are read
    once for both charts.
    """
    query = call_count_query(since)
    rows = cast(Iterable[tuple[Any, str, int, int | None]], query)
    per_name: dict[str, list[int]] = collections.defaultdict(lambda: [0, 0])
    per_hour: dict[datetime.datetime, list[int]] = collections.defaultdict(
        lambda: [0, 0]
    )
    for value, name, calls, errors in rows:
        for totals in (per_name[name], per_hour[_as_hour(value)]):
            totals[0] += int(calls)
            totals[1] += int(errors or 0)
    return CallCounts(
        by_integration=_sorted_counts(per_name), by_hour=_sorted_counts(per_hour)
    )


def _sorted_counts(totals: dict[Key, list[int]]) -> list[CallCount]:
    return [
        CallCount(key, calls, errors) for key, (calls, errors) in sorted(totals.items())
    ]


def _as_hour(value: str | datetime.datetime) -> datetime.datetime:
    # SQLite returns "YYYY-MM-DD HH" text; PostgreSQL returns a timestamp.
    if isinstance(value, datetime.datetime):
        return value.replace(minute=0, second=0, microsecond=0, tzinfo=None)
    return datetime.datetime.strptime(value, SQLITE_HOUR_FORMAT)


def count_failed_runs(since: datetime.datetime) -> int:
    """Return how many runs since ``since`` did not succeed."""
    return int(
        IntegrationRun.select()
        .where(
            (IntegrationRun.started_at >= since) & (IntegrationRun.status != SUCCEEDED)
        )
        .count()
    )
