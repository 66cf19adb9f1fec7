"""Searching the audit trail: filters, newest first, for the pages and CSV.

Each filter has an index that starts with its column and continues with
``created_at`` (see ``AuditEvent.Meta``), so a filtered page reads only the
matching events, in order.
"""

from __future__ import annotations

import dataclasses
import datetime
import heapq
import itertools

import peewee

from models.audit import AuditEvent

# The actions whose detail names an integration ("execute on echo") while
# their target is the user whose permission changed.
PERMISSION_ACTIONS = ("permission.grant", "permission.revoke")


@dataclasses.dataclass(frozen=True)
class AuditFilter:
    """The filters of the audit log page; None leaves a filter out."""

    actor: str | None = None
    action: str | None = None
    #: Events whose target is this integration, and permission changes on it.
    integration: str | None = None
    #: Inclusive lower bound of ``created_at`` (UTC).
    since: datetime.datetime | None = None
    #: Exclusive upper bound of ``created_at`` (UTC).
    until: datetime.datetime | None = None


class EventSearch:
    """The events that match one filter, newest first.

    The integration filter matches two kinds of event: those whose target is
    the integration, and permission changes on it. Each kind is a query of
    its own that reads its index in ``created_at`` order, and their rows are
    merged here. One query with OR, or with UNION ALL on PostgreSQL, sorts
    every match to find the newest.
    """

    def __init__(self, audit_filter: AuditFilter) -> None:
        conditions = _filter_conditions(audit_filter)
        self.queries: list[peewee.ModelSelect[AuditEvent]]
        if audit_filter.integration:
            self.queries = _integration_queries(audit_filter.integration, conditions)
        elif conditions:
            self.queries = [AuditEvent.select().where(*conditions)]
        else:
            self.queries = [AuditEvent.select()]

    def count(self, limit: int) -> int:
        """Count the matching events, stopping at ``limit``."""
        return min(limit, sum(query.limit(limit).count() for query in self.queries))

    def fetch(
        self, limit: int, offset: int = 0, after: AuditEvent | None = None
    ) -> list[AuditEvent]:
        """Return ``limit`` events after skipping ``offset`` of them.

        With ``after``, only the events that follow it match: a position by
        ``(created_at, id)`` instead of an OFFSET, so that a caller reading
        in chunks reads only the rows it returns.
        """
        queries = [
            query.where(_follows(after)) if after is not None else query
            for query in self.queries
        ]
        if len(queries) == 1:
            ordered = queries[0].order_by(*NEWEST_FIRST)
            return list(ordered.limit(limit).offset(offset))
        rows = [
            list(query.order_by(*NEWEST_FIRST).limit(offset + limit))
            for query in queries
        ]
        merged = heapq.merge(*rows, key=_position, reverse=True)
        return list(itertools.islice(merged, offset, offset + limit))


NEWEST_FIRST = (AuditEvent.created_at.desc(), AuditEvent.id.desc())


def _position(event: AuditEvent) -> tuple[datetime.datetime, int]:
    return event.created_at, event.id


def _follows(event: AuditEvent) -> peewee.Expression:
    return (AuditEvent.created_at <= event.created_at) & (
        (AuditEvent.created_at < event.created_at) | (AuditEvent.id < event.id)
    )


def _filter_conditions(audit_filter: AuditFilter) -> list[peewee.Expression]:
    conditions = []
    if audit_filter.actor:
        conditions.append(AuditEvent.actor == audit_filter.actor)
    if audit_filter.action:
        conditions.append(AuditEvent.action == audit_filter.action)
    if audit_filter.since is not None:
        conditions.append(AuditEvent.created_at >= audit_filter.since)
    if audit_filter.until is not None:
        conditions.append(AuditEvent.created_at < audit_filter.until)
    return conditions


def _integration_queries(
    name: str, conditions: list[peewee.Expression]
) -> list[peewee.ModelSelect[AuditEvent]]:
    by_target = AuditEvent.select().where(*conditions, AuditEvent.target == name)
    # Permission changes name the user as target and the integration at the
    # end of their detail ("execute on echo"). Those whose target happens to
    # be the integration's name too are in the first query already.
    by_permission = AuditEvent.select().where(
        *conditions,
        AuditEvent.action.in_(PERMISSION_ACTIONS),
        AuditEvent.detail.endswith(f" on {name}"),
        AuditEvent.target.is_null() | (AuditEvent.target != name),
    )
    return [by_target, by_permission]


def query_audit_actions() -> list[str]:
    """Return the distinct actions recorded so far, sorted, for the filter form.

    Jumps from one action to the next through the index on ``action``: a
    plain DISTINCT would read one index entry per event.
    """
    table = AuditEvent._meta.table_name
    rows = AuditEvent._meta.database.execute_sql(
        f"WITH RECURSIVE actions(action) AS ("  # noqa: S608 - a fixed table name
        f' SELECT MIN(action) FROM "{table}"'
        f' UNION ALL SELECT (SELECT MIN(action) FROM "{table}"'
        f" WHERE action > actions.action) FROM actions"
        f" WHERE actions.action IS NOT NULL)"
        f" SELECT action FROM actions WHERE action IS NOT NULL"
    )
    return [action for (action,) in rows]
