"""The audit trail: who did what to which target, from where, with what outcome."""

from __future__ import annotations

from typing import Any

import peewee

from models.base import BaseModel, utcnow
from models.prepared import PreparedQuery, param

SUCCESS = "success"
FAILURE = "failure"
DENIED = "denied"


class AuditEvent(BaseModel):
    id: peewee.AutoField[int]
    created_at = peewee.DateTimeField(default=utcnow, index=True)
    actor = peewee.CharField(max_length=150, null=True)
    auth_method = peewee.CharField(max_length=20, null=True)
    client_id = peewee.CharField(max_length=64, null=True)
    action = peewee.CharField(max_length=64)
    target = peewee.CharField(max_length=255, null=True)
    outcome = peewee.CharField(max_length=20)
    remote_addr = peewee.CharField(max_length=64, null=True)
    request_id = peewee.CharField(max_length=32, null=True)
    # A short operator-facing explanation; never a secret or a credential.
    detail = peewee.CharField(max_length=500, null=True)

    class Meta:
        # The filters of the audit log page, each with the newest events first.
        indexes = (
            (("actor", "created_at"), False),
            (("action", "created_at"), False),
            (("target", "created_at"), False),
        )


# Audit events are written on every call, so the insert is compiled once.
INSERT_EVENT = PreparedQuery(
    lambda: AuditEvent.insert(
        {
            field: param(field)
            for field in (
                "created_at",
                "action",
                "outcome",
                "actor",
                "auth_method",
                "client_id",
                "target",
                "remote_addr",
                "request_id",
                "detail",
            )
        }
    )
)


def event_row(
    action: str,
    outcome: str,
    *,
    actor: str | None = None,
    auth_method: str | None = None,
    client_id: str | None = None,
    target: str | None = None,
    remote_addr: str | None = None,
    request_id: str | None = None,
    detail: str | None = None,
) -> dict[str, Any]:
    """Build the column values of one audit event, clipped to their sizes."""
    return {
        "created_at": utcnow(),
        "action": action,
        "outcome": outcome,
        "actor": _clip(actor, 150),
        "auth_method": auth_method,
        "client_id": _clip(client_id, 64),
        "target": _clip(target, 255),
        "remote_addr": _clip(remote_addr, 64),
        "request_id": request_id,
        "detail": _clip(detail, 500),
    }


def record_event(action: str, outcome: str, **fields: str | None) -> None:
    """Insert one audit event; the caller decides the transaction around it.

    Takes the keyword arguments of :func:`event_row`.
    """
    INSERT_EVENT.execute(**event_row(action, outcome, **fields))


def _clip(value: str | None, length: int) -> str | None:
    # Fields can carry request input. Escaping non-printable characters keeps
    # a NUL out of PostgreSQL, which rejects it, and keeps line breaks out of
    # anything that prints the trail.
    if value is None:
        return None
    if not value.isprintable():
        value = "".join(
            char if char.isprintable() else repr(char)[1:-1] for char in value
        )
    return value[:length]
