"""Issuing and redeeming authorization codes (RFC 6749 §4.1.2, §4.1.3).

A code carries 256 random bits and is stored only as its SHA-256 digest. It
is bound to the client, redirect URI, user, scope and PKCE challenge, lives
for ``authorization_code_lifetime_seconds``, and is redeemed at most once.
"""

from __future__ import annotations

import dataclasses
import datetime
import uuid

from auth.errors import InvalidGrantError, ReusedGrantError
from auth.secrets import generate_token, sha256_hex
from models.base import utcnow
from models.codes import AuthorizationCode
from models.users import User

MAX_CODE_LENGTH = 256


@dataclasses.dataclass(frozen=True)
class CodeBinding:
    """The client, user, redirect URI, scope and challenge a code is bound to."""

    client_id: str
    user: User
    redirect_uri: str
    redirect_uri_sent: bool
    scope: str
    code_challenge: str | None
    code_challenge_method: str | None


def create_code(binding: CodeBinding, lifetime_seconds: int) -> str:
    """Store a new code for ``binding`` and return it; the caller commits."""
    code = generate_token(32)
    now = utcnow()
    AuthorizationCode.create(
        code_digest=sha256_hex(code),
        client_id=binding.client_id,
        user=binding.user,
        redirect_uri=binding.redirect_uri,
        redirect_uri_sent=binding.redirect_uri_sent,
        scope=binding.scope,
        code_challenge=binding.code_challenge,
        code_challenge_method=binding.code_challenge_method,
        grant_id=uuid.uuid4().hex,
        created_at=now,
        expires_at=now + datetime.timedelta(seconds=lifetime_seconds),
    )
    return code


def redeem_code(code: str) -> AuthorizationCode:
    """Mark ``code`` redeemed and return its record, or raise ``invalid_grant``.

    Run inside the transaction that issues the tokens, so that the code is
    unused again when the caller rolls back. The conditional UPDATE comes
    first, so that of two parallel redemptions exactly one changes the row.
    The other waits for the row lock (PostgreSQL) or the write lock (SQLite),
    then reads a redeemed code and raises :class:`ReusedGrantError`.
    """
    if len(code) > MAX_CODE_LENGTH:
        raise InvalidGrantError(log_detail="code is too long")
    digest = sha256_hex(code)
    now = utcnow()
    claimed = (
        AuthorizationCode.update(redeemed_at=now)
        .where(
            (AuthorizationCode.code_digest == digest)
            & AuthorizationCode.redeemed_at.is_null()
            & (AuthorizationCode.expires_at > now)
        )
        .execute()
    )
    record = (
        AuthorizationCode.select(AuthorizationCode, User)
        .join(User)
        .where(AuthorizationCode.code_digest == digest)
        .first()
    )
    if record is None:
        raise InvalidGrantError(log_detail="unknown code")
    if claimed:
        return record
    if record.redeemed_at is not None:
        raise ReusedGrantError(record.grant_id, log_detail="code was already redeemed")
    raise InvalidGrantError(log_detail="code expired")
