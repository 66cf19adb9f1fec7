"""Refresh tokens: issued with authorization-code tokens, rotated at every use.

A refresh token carries 256 random bits and is stored only as its SHA-256
digest. It expires after ``refresh_token_idle_lifetime_seconds`` without use
and, with its whole family, ``refresh_token_absolute_lifetime_seconds`` after
the authorization. Presenting a token that was already rotated means it was
copied, so the whole family is revoked (RFC 9700 §4.14.2).
"""

from __future__ import annotations

import datetime

from auth.errors import InvalidGrantError, ReusedGrantError
from auth.secrets import generate_token, sha256_hex
from models.base import utcnow
from models.refresh_tokens import RefreshToken
from models.users import User

MAX_REFRESH_TOKEN_LENGTH = 256


class RefreshTokenService:
    """Issues and rotates refresh tokens."""

    def __init__(self, idle_lifetime_seconds: int, absolute_lifetime_seconds: int):
        self.idle_lifetime = datetime.timedelta(seconds=idle_lifetime_seconds)
        self.absolute_lifetime = datetime.timedelta(seconds=absolute_lifetime_seconds)

    def issue(
        self,
        user: User,
        client_id: str,
        scope: str,
        grant_id: str,
        family_expires_at: datetime.datetime | None = None,
    ) -> tuple[str, RefreshToken]:
        """Store a new refresh token and return it; the caller commits.

        Without ``family_expires_at`` the token starts a new family.
        """
        now = utcnow()
        if family_expires_at is None:
            family_expires_at = now + self.absolute_lifetime
        token = generate_token(32)
        record = RefreshToken.create(
            token_digest=sha256_hex(token),
            grant_id=grant_id,
            client_id=client_id,
            user=user,
            scope=scope,
            issued_at=now,
            expires_at=min(now + self.idle_lifetime, family_expires_at),
            family_expires_at=family_expires_at,
        )
        return token, record

    def rotate(self, token: str) -> RefreshToken:
        """Mark ``token`` rotated and return its record, or raise ``invalid_grant``.

        As with codes, the conditional UPDATE comes first, and the caller's
        transaction undoes it on failure. Of two parallel uses one wins, and
        the other counts as reuse.
        """
        if len(token) > MAX_REFRESH_TOKEN_LENGTH:
            raise InvalidGrantError(log_detail="refresh token is too long")
        digest = sha256_hex(token)
        now = utcnow()
        claimed = (
            RefreshToken.update(rotated_at=now)
            .where(
                (RefreshToken.token_digest == digest)
                & RefreshToken.rotated_at.is_null()
                & RefreshToken.revoked_at.is_null()
                & (RefreshToken.expires_at > now)
            )
            .execute()
        )
        record = query_refresh_token(token)
        if record is None:
            raise InvalidGrantError(log_detail="unknown refresh token")
        if claimed:
            return record
        if record.revoked_at is not None:
            raise InvalidGrantError(log_detail="refresh token is revoked")
        if record.rotated_at is not None:
            raise ReusedGrantError(
                record.grant_id, log_detail="refresh token was already rotated"
            )
        raise InvalidGrantError(log_detail="refresh token expired")


def query_refresh_token(token: str) -> RefreshToken | None:
    """Return the record of ``token`` with its user, whatever its state, or None."""
    if len(token) > MAX_REFRESH_TOKEN_LENGTH:
        return None
    return (
        RefreshToken.select(RefreshToken, User)
        .join(User)
        .where(RefreshToken.token_digest == sha256_hex(token))
        .first()
    )
