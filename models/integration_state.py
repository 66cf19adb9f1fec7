"""The enable switch of each integration, set by staff on the admin pages.

An integration without a row is enabled, so a newly installed plugin works
as soon as someone is granted a permission on it.
"""

from __future__ import annotations

import peewee

from models.base import BaseModel, database, utcnow
from models.changes import remembered
from models.prepared import PreparedQuery, param
from models.users import EXECUTE, Permission


class IntegrationState(BaseModel):
    name = peewee.CharField(max_length=64, primary_key=True)
    enabled = peewee.BooleanField(default=True)
    changed_at = peewee.DateTimeField(default=utcnow)
    # Username of the staff member who last switched it.
    changed_by = peewee.CharField(max_length=150, null=True)

    class Meta:
        track_changes = True


_ENABLED = PreparedQuery(
    lambda: IntegrationState.select(IntegrationState.enabled).where(
        IntegrationState.name == param("name")
    )
)


def check_integration_enabled(name: str) -> bool:
    """Return whether integration ``name`` may be executed.

    The partner API checks this on every call, so it uses SQL compiled once.
    """
    row = _ENABLED.first(name=name)
    return row is None or bool(row[0])


def query_disabled_integrations() -> set[str]:
    """Return the names of the integrations that staff disabled."""
    rows = IntegrationState.select(IntegrationState.name).where(
        IntegrationState.enabled == False  # noqa: E712 - a peewee expression
    )
    return {row.name for row in rows}


def set_integration_enabled(name: str, enabled: bool, changed_by: str) -> bool:
    """Switch integration ``name`` on or off; return False when it already was."""
    with database.atomic():
        if check_integration_enabled(name) == enabled:
            return False
        updated = (
            IntegrationState.update(
                enabled=enabled, changed_at=utcnow(), changed_by=changed_by
            )
            .where(IntegrationState.name == name)
            .execute()
        )
        if not updated:
            IntegrationState.create(name=name, enabled=enabled, changed_by=changed_by)
    return True


_EXECUTE_FACTS = PreparedQuery(
    lambda: peewee.Select(
        columns=[
            peewee.fn.EXISTS(
                Permission.select(peewee.SQL("1")).where(
                    (Permission.user == param("user_id"))
                    & (Permission.integration == param("integration"))
                    & (Permission.permission == EXECUTE)
                )
            ),
            ~peewee.fn.EXISTS(
                IntegrationState.select(peewee.SQL("1")).where(
                    (IntegrationState.name == param("integration"))
                    & (IntegrationState.enabled == False)  # noqa: E712 - builds SQL
                )
            ),
        ]
    ).bind(database)
)


@remembered
def query_execute_facts(user_id: int, integration: str) -> tuple[bool, bool]:
    """Return whether the user may execute ``integration`` and whether it is on.

    Both come from one query, because a Basic call needs them on the hot path;
    a bearer call reads them with its token instead. The result is remembered
    until a tracked write (see models.changes).
    """
    row = _EXECUTE_FACTS.first(user_id=user_id, integration=integration)
    if row is None:
        return False, True
    return bool(row[0]), bool(row[1])
