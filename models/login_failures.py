"""Failed logins to the web pages, counted to throttle password guessing.

Rows live in the database, so every gateway process behind a load balancer
counts the same failures.
"""

from __future__ import annotations

import datetime

import peewee

from models.base import BaseModel, utcnow


class LoginFailure(BaseModel):
    id: peewee.AutoField[int]
    # The username as typed, which may not exist.
    username = peewee.CharField(max_length=150, index=True)
    remote_addr = peewee.CharField(max_length=64, index=True)
    # The id of a valid device cookie from an earlier successful login as this
    # username (see auth.login_throttle); for a Basic attempt from a known
    # address, "address:" and the address (see auth.basic_auth); otherwise None.
    device_id = peewee.CharField(max_length=64, null=True, index=True)
    created_at = peewee.DateTimeField(default=utcnow, index=True)


def record_login_failure(username: str, remote_addr: str, device_id: str | None) -> int:
    """Insert one failed login; return its id."""
    failure = LoginFailure.create(
        username=username[:150], remote_addr=remote_addr[:64], device_id=device_id
    )
    return int(failure.id)


def delete_login_failure(failure_id: int) -> None:
    """Delete one recorded failure."""
    LoginFailure.delete().where(LoginFailure.id == failure_id).execute()


def query_failure_times(
    since: datetime.datetime, limit: int, *conditions: peewee.Expression
) -> list[datetime.datetime]:
    """Return the newest ``limit`` failure times after ``since``, newest first.

    Only failures matching all ``conditions`` count.
    """
    rows = (
        LoginFailure.select(LoginFailure.created_at)
        .where(LoginFailure.created_at > since, *conditions)
        .order_by(LoginFailure.created_at.desc())
        .limit(limit)
    )
    return [row.created_at for row in rows]


def delete_old_login_failures(before: datetime.datetime, limit: int = 500) -> int:
    """Delete up to ``limit`` failures recorded before ``before``."""
    return LoginFailure.delete_batch(LoginFailure.created_at < before, limit)
