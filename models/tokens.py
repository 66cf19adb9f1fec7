"""Issued access tokens, recorded by ``jti`` so that revocation is immediate."""

from __future__ import annotations

import datetime

import peewee

from models.base import BaseModel, utcnow
from models.users import User


class AccessToken(BaseModel):
    jti = peewee.CharField(max_length=64, unique=True)
    client_id = peewee.CharField(max_length=64, index=True)
    user = peewee.ForeignKeyField(User, backref="access_tokens", on_delete="CASCADE")
    scope = peewee.TextField(default="")
    issued_at = peewee.DateTimeField(default=utcnow)
    expires_at = peewee.DateTimeField(index=True)
    revoked_at = peewee.DateTimeField(null=True)
    # Ties the token to the authorization (code and its refresh tokens) that
    # produced it, so that revoking the grant ends every token of it.
    grant_id = peewee.CharField(max_length=64, null=True, index=True)


def query_live_token(jti: str) -> AccessToken | None:
    """Return the unrevoked, unexpired token ``jti`` joined with its user."""
    now = utcnow()
    return (
        AccessToken.select(AccessToken, User)
        .join(User)
        .where(
            (AccessToken.jti == jti)
            & AccessToken.revoked_at.is_null()
            & (AccessToken.expires_at > now)
        )
        .first()
    )


def revoke_tokens(*conditions: peewee.Expression) -> int:
    """Mark every live token matching all ``conditions`` revoked; return how many."""
    query = AccessToken.update(revoked_at=utcnow()).where(
        AccessToken.revoked_at.is_null(), *conditions
    )
    return int(query.execute())


def delete_expired_tokens(before: datetime.datetime, limit: int = 500) -> int:
    """Delete up to ``limit`` tokens that expired before ``before``."""
    batch = (
        AccessToken.select(AccessToken.id)
        .where(AccessToken.expires_at < before)
        .limit(limit)
    )
    ids = [row.id for row in batch]
    if not ids:
        return 0
    return int(AccessToken.delete().where(AccessToken.id.in_(ids)).execute())
