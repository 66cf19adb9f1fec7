"""Integration runs: one row for every call that reached a plugin."""

from __future__ import annotations

import peewee

from models.base import BaseModel, utcnow
from models.prepared import PreparedQuery, param
from models.users import User

SUCCEEDED = "succeeded"
FAILED = "failed"
REJECTED = "rejected"
TIMED_OUT = "timed_out"


class IntegrationRun(BaseModel):
    id: peewee.AutoField[int]
    run_id = peewee.CharField(max_length=32, unique=True)
    integration = peewee.CharField(max_length=64)
    # Not indexed: every call inserts a run, no page looks runs up by user,
    # and the gateway never deletes users.
    user = peewee.ForeignKeyField(
        User, null=True, backref="runs", on_delete="SET NULL", index=False
    )
    user_id: int | None
    username = peewee.CharField(max_length=150)
    auth_method = peewee.CharField(max_length=20)
    client_id = peewee.CharField(max_length=64, null=True)
    status = peewee.CharField(max_length=20)
    http_status = peewee.IntegerField()
    started_at = peewee.DateTimeField(default=utcnow)
    duration_ms = peewee.FloatField(default=0.0)
    error_class = peewee.CharField(max_length=200, null=True)

    class Meta:
        indexes = (
            # Covers the dashboard's counts, so SQLite reads no table rows.
            (("started_at", "integration", "status"), False),
            # Newest runs of an integration first, for its page.
            (("integration", "started_at"), False),
        )


INSERT_RUN = PreparedQuery(
    lambda: IntegrationRun.insert(
        {
            field: param(field)
            for field in (
                "run_id",
                "integration",
                "user",
                "username",
                "auth_method",
                "client_id",
                "status",
                "http_status",
                "started_at",
                "duration_ms",
                "error_class",
            )
        }
    )
)


def query_recent_runs(integrations: list[str], limit: int = 50) -> list[IntegrationRun]:
    """Return the newest runs of ``integrations``, newest first."""
    if not integrations:
        return []
    query = (
        IntegrationRun.select()
        .where(IntegrationRun.integration.in_(integrations))
        .order_by(IntegrationRun.started_at.desc(), IntegrationRun.id.desc())
        .limit(limit)
    )
    return list(query)


def search_runs(integration: str) -> peewee.Select:
    """Return the query of the runs of ``integration``, newest first."""
    return (
        IntegrationRun.select()
        .where(IntegrationRun.integration == integration)
        .order_by(IntegrationRun.started_at.desc(), IntegrationRun.id.desc())
    )
