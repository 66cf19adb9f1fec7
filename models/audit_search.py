"""Searching the audit trail: filters, newest first, for the pages and CSV."""

from __future__ import annotations

import dataclasses
import datetime

import peewee

from models.audit import AuditEvent


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


def search_events(audit_filter: AuditFilter) -> peewee.Select:
    """Return the query of matching events, newest first."""
    query = AuditEvent.select()
    if audit_filter.actor:
        query = query.where(AuditEvent.actor == audit_filter.actor)
    if audit_filter.action:
        query = query.where(AuditEvent.action == audit_filter.action)
    if audit_filter.integration:
        name = audit_filter.integration
        # Permission changes name the user as target and the integration at
        # the end of their detail ("execute on echo").
        query = query.where(
            (AuditEvent.target == name)
            | (
                AuditEvent.action.startswith("permission.")
                & AuditEvent.detail.endswith(f" on {name}")
            )
        )
    if audit_filter.since is not None:
        query = query.where(AuditEvent.created_at >= audit_filter.since)
    if audit_filter.until is not None:
        query = query.where(AuditEvent.created_at < audit_filter.until)
    return query.order_by(AuditEvent.created_at.desc(), AuditEvent.id.desc())


def query_audit_actions() -> list[str]:
    """Return the distinct actions recorded so far, sorted, for the filter form."""
    rows = AuditEvent.select(AuditEvent.action).distinct().order_by(AuditEvent.action)
    return [row.action for row in rows]
