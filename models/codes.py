"""Authorization codes (RFC 6749 §4.1.2), stored only as SHA-256 digests."""

from __future__ import annotations

import datetime

import peewee

from models.base import BaseModel, utcnow
from models.users import User


class AuthorizationCode(BaseModel):
    id: peewee.AutoField[int]
    code_digest = peewee.CharField(max_length=64, unique=True)
    client_id = peewee.CharField(max_length=64, index=True)
    user = peewee.ForeignKeyField(
        User, backref="authorization_codes", on_delete="CASCADE"
    )
    user_id: int
    redirect_uri = peewee.TextField()
    # True when the authorization request named the redirect URI, so that the
    # token request must repeat it (RFC 6749 §4.1.3).
    redirect_uri_sent = peewee.BooleanField(default=True)
    scope = peewee.TextField(default="")
    # PKCE (RFC 7636); None when a confidential client sent no challenge.
    code_challenge = peewee.CharField(max_length=128, null=True)
    code_challenge_method = peewee.CharField(max_length=10, null=True)
    # Shared by the tokens issued from this code and their refresh tokens.
    grant_id = peewee.CharField(max_length=64, index=True)
    created_at = peewee.DateTimeField(default=utcnow)
    expires_at = peewee.DateTimeField(index=True)
    redeemed_at = peewee.DateTimeField(null=True)


def delete_expired_codes(before: datetime.datetime, limit: int = 500) -> int:
    """Delete up to ``limit`` codes that expired before ``before``."""
    return AuthorizationCode.delete_batch(AuthorizationCode.expires_at < before, limit)
