"""Issued access tokens, recorded by ``jti`` so that revocation is immediate."""

from __future__ import annotations

import dataclasses
import datetime

import peewee

from models.base import BaseModel, utcnow
from models.changes import remembered
from models.clients import Client
from models.integration_state import IntegrationState
from models.prepared import PreparedQuery, param, python_value
from models.users import EXECUTE, Permission, User


class AccessToken(BaseModel):
    id: peewee.AutoField[int]
    jti = peewee.CharField(max_length=64, unique=True)
    client_id = peewee.CharField(max_length=64, index=True)
    user = peewee.ForeignKeyField(User, backref="access_tokens", on_delete="CASCADE")
    user_id: int
    scope = peewee.TextField(default="")
    issued_at = peewee.DateTimeField(default=utcnow)
    expires_at = peewee.DateTimeField(index=True)
    revoked_at = peewee.DateTimeField(null=True)
    # Ties the token to the authorization (code and its refresh tokens) that
    # produced it, so that revoking the grant ends every token of it.
    grant_id = peewee.CharField(max_length=64, null=True, index=True)

    class Meta:
        track_changes = True


@dataclasses.dataclass(frozen=True)
class LiveToken:
    """A live access token with the fields of its active user."""

    jti: str
    client_id: str
    scope: str
    user_id: int
    username: str
    kind: str
    last_used_at: datetime.datetime | None
    #: Whether the user has execute on the integration named in the query.
    may_execute: bool = False
    #: Whether staff left the integration named in the query enabled.
    integration_enabled: bool = True


_LIVE_TOKEN = PreparedQuery(
    lambda: (
        AccessToken.select(
            AccessToken.client_id,
            AccessToken.scope,
            User.id,
            User.username,
            User.kind,
            User.last_used_at,
            peewee.fn.EXISTS(
                Permission.select(peewee.SQL("1")).where(
                    (Permission.user == User.id)
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
        )
        .join(User)
        # A token of a deleted client is dead even if its row was inserted
        # after the deletion revoked the others.
        .switch(AccessToken)
        .join(Client, on=(AccessToken.client_id == Client.client_id))
        .where(
            (AccessToken.jti == param("jti"))
            & AccessToken.revoked_at.is_null()
            & (AccessToken.expires_at > param("now"))
            & (User.is_active == True)  # noqa: E712 - builds SQL
        )
    )
)


@remembered
def query_live_token_row(jti: str, integration: str = "") -> LiveToken | None:
    """Return token ``jti`` if it is still usable, or None.

    Usable means unrevoked and unexpired, with its user active and its client
    still registered. ``integration`` names the integration whose execute
    permission and enable switch are read in the same query. This runs on
    every bearer call, so it uses SQL compiled once, and the result is
    remembered until a tracked write (see models.changes). The caller checks
    the expiry again: a remembered token outlives it.
    """
    row = _LIVE_TOKEN.first(jti=jti, now=utcnow(), integration=integration)
    if row is None:
        return None
    (
        client_id,
        scope,
        user_id,
        username,
        kind,
        last_used_at,
        may_execute,
        integration_enabled,
    ) = row
    return LiveToken(
        jti=jti,
        client_id=client_id,
        scope=scope,
        user_id=user_id,
        username=username,
        kind=kind,
        last_used_at=python_value(User.last_used_at, last_used_at),
        may_execute=bool(may_execute),
        integration_enabled=bool(integration_enabled),
    )


def revoke_tokens(*conditions: peewee.Expression) -> int:
    """Mark every live token matching all ``conditions`` revoked; return how many."""
    query = AccessToken.update(revoked_at=utcnow()).where(
        AccessToken.revoked_at.is_null(), *conditions
    )
    return int(query.execute())


def delete_expired_tokens(before: datetime.datetime, limit: int = 500) -> int:
    """Delete up to ``limit`` tokens that expired before ``before``."""
    return AccessToken.delete_batch(AccessToken.expires_at < before, limit)


INSERT_TOKEN = PreparedQuery(
    lambda: AccessToken.insert(
        {
            field: param(field)
            for field in (
                "jti",
                "client_id",
                "user",
                "scope",
                "issued_at",
                "expires_at",
                "grant_id",
            )
        }
    )
)


def token_row(record: AccessToken) -> dict[str, object]:
    """Return the values that ``INSERT_TOKEN`` takes for ``record``."""
    return {
        "jti": record.jti,
        "client_id": record.client_id,
        "user": record.user_id,
        "scope": record.scope,
        "issued_at": record.issued_at,
        "expires_at": record.expires_at,
        "grant_id": record.grant_id,
    }


def search_live_tokens(
    client_id: str | None = None, username: str | None = None
) -> peewee.Select:
    """Return the query of unrevoked, unexpired tokens with their users.

    Ordered by expiry, soonest first; ``client_id`` and ``username`` filter.
    """
    query = (
        AccessToken.select(AccessToken, User)
        .join(User)
        .where(AccessToken.revoked_at.is_null() & (AccessToken.expires_at > utcnow()))
    )
    if client_id:
        query = query.where(AccessToken.client_id == client_id)
    if username:
        query = query.where(User.username == username)
    return query.order_by(AccessToken.expires_at, AccessToken.id)
