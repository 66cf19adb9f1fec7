"""Refresh tokens, stored only as SHA-256 digests and grouped in families.

A family is every refresh token of one grant: the first one is issued with
the authorization code's tokens, and each use rotates it into the next.
"""

from __future__ import annotations

import datetime

import peewee

from models.base import BaseModel, utcnow
from models.users import User


class RefreshToken(BaseModel):
    id: peewee.AutoField[int]
    token_digest = peewee.CharField(max_length=64, unique=True)
    # The family: equal to the ``grant_id`` of the code and the access tokens.
    grant_id = peewee.CharField(max_length=64, index=True)
    client_id = peewee.CharField(max_length=64, index=True)
    user = peewee.ForeignKeyField(User, backref="refresh_tokens", on_delete="CASCADE")
    user_id: int
    # The scope the user approved; a refresh may narrow the access token's
    # scope, but the next refresh token keeps this one (RFC 6749 §6).
    scope = peewee.TextField(default="")
    issued_at = peewee.DateTimeField(default=utcnow)
    # The idle expiry, never later than ``family_expires_at``.
    expires_at = peewee.DateTimeField(index=True)
    # The absolute expiry of the family, counted from the authorization.
    family_expires_at = peewee.DateTimeField()
    # Set when the token was exchanged for its successor.
    rotated_at = peewee.DateTimeField(null=True)
    revoked_at = peewee.DateTimeField(null=True)


def revoke_refresh_tokens(*conditions: peewee.Expression) -> int:
    """Mark every unrevoked refresh token matching ``conditions`` revoked."""
    query = RefreshToken.update(revoked_at=utcnow()).where(
        RefreshToken.revoked_at.is_null(), *conditions
    )
    return int(query.execute())


def delete_expired_refresh_tokens(before: datetime.datetime, limit: int = 500) -> int:
    """Delete up to ``limit`` refresh tokens that expired before ``before``."""
    return RefreshToken.delete_batch(RefreshToken.expires_at < before, limit)


def search_live_refresh_tokens(
    client_id: str | None = None, username: str | None = None
) -> peewee.Select:
    """Build the query of usable refresh tokens with their users.

    A usable token is neither rotated nor revoked and has not expired, so
    each live grant has at most one. The rows are ordered by expiry, soonest
    first, and ``client_id`` and ``username`` narrow them when given.
    """
    query = (
        RefreshToken.select(RefreshToken, User)
        .join(User)
        .where(
            RefreshToken.rotated_at.is_null()
            & RefreshToken.revoked_at.is_null()
            & (RefreshToken.expires_at > utcnow())
        )
    )
    if client_id:
        query = query.where(RefreshToken.client_id == client_id)
    if username:
        query = query.where(User.username == username)
    return query.order_by(RefreshToken.expires_at, RefreshToken.id)


def query_grant_refresh_token(grant_id: str) -> RefreshToken | None:
    """Return the newest refresh token of grant ``grant_id`` with its user, or None."""
    return (
        RefreshToken.select(RefreshToken, User)
        .join(User)
        .where(RefreshToken.grant_id == grant_id)
        .order_by(RefreshToken.issued_at.desc(), RefreshToken.id.desc())
        .first()
    )
