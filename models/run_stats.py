"""Counts of integration runs for the dashboard."""

from __future__ import annotations

import dataclasses
import datetime
from collections.abc import Iterable
from typing import Any, cast

import peewee

from models.base import database
from models.runs import SUCCEEDED, IntegrationRun


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


def _error_sum() -> peewee.Function:
    not_succeeded = peewee.Case(None, [(IntegrationRun.status != SUCCEEDED, 1)], 0)
    return peewee.fn.SUM(not_succeeded)


def count_calls_by_integration(since: datetime.datetime) -> list[CallCount]:
    """Return calls and errors per integration since ``since``, by name."""
    query = (
        IntegrationRun.select(
            IntegrationRun.integration,
            peewee.fn.COUNT(IntegrationRun.id).alias("calls"),
            _error_sum().alias("errors"),
        )
        .where(IntegrationRun.started_at >= since)
        .group_by(IntegrationRun.integration)
        .order_by(IntegrationRun.integration)
        .tuples()
    )
    rows = cast(Iterable[tuple[str, int, int | None]], query)
    return [
        CallCount(name, int(calls), int(errors or 0)) for name, calls, errors in rows
    ]


def count_calls_by_hour(since: datetime.datetime) -> list[CallCount]:
    """Return calls and errors per hour since ``since``, oldest hour first.

    Hours without calls are left out.
    """
    hour = database.obj.truncate_date("hour", IntegrationRun.started_at)
    query = (
        IntegrationRun.select(
            hour.alias("hour"),
            peewee.fn.COUNT(IntegrationRun.id).alias("calls"),
            _error_sum().alias("errors"),
        )
        .where(IntegrationRun.started_at >= since)
        .group_by(hour)
        .order_by(hour)
        .tuples()
    )
    rows = cast(Iterable[tuple[Any, int, int | None]], query)
    return [
        CallCount(_as_hour(value), int(calls), int(errors or 0))
        for value, calls, errors in rows
    ]


def _as_hour(value: str | datetime.datetime) -> datetime.datetime:
    # SQLite returns "YYYY-MM-DD HH" text; PostgreSQL returns a timestamp.
    if isinstance(value, datetime.datetime):
        return value.replace(minute=0, second=0, microsecond=0, tzinfo=None)
    return datetime.datetime.strptime(value, "%Y-%m-%d %H")


def count_failed_runs(since: datetime.datetime) -> int:
    """Return how many runs since ``since`` did not succeed."""
    return int(
        IntegrationRun.select()
        .where(
            (IntegrationRun.started_at >= since) & (IntegrationRun.status != SUCCEEDED)
        )
        .count()
    )
