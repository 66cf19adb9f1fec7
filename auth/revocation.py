"""Ending tokens at once: those of one grant, one client or one user.

Revoking a grant, a client or a user marks every access token and refresh
token behind it revoked in one statement per table, and makes unredeemed codes
unusable. Access tokens are checked against their row on every use, so the
change takes effect at once in every gateway process.
"""

from __future__ import annotations

import dataclasses
import logging

import peewee

from models.base import database, utcnow
from models.codes import AuthorizationCode
from models.refresh_tokens import RefreshToken, revoke_refresh_tokens
from models.tokens import AccessToken, revoke_tokens

log = logging.getLogger("integration_gateway.auth.revocation")


@dataclasses.dataclass(frozen=True)
class RevokedCounts:
    access_tokens: int
    refresh_tokens: int

    @property
    def total(self) -> int:
        return self.access_tokens + self.refresh_tokens


def _close_codes(*conditions: peewee.Expression) -> None:
    # A code redeemed now could only start a grant that is being revoked.
    AuthorizationCode.update(redeemed_at=utcnow()).where(
        AuthorizationCode.redeemed_at.is_null(), *conditions
    ).execute()


def revoke_grant(grant_id: str) -> RevokedCounts:
    """Revoke the code, access tokens and refresh tokens of one grant."""
    with database.atomic():
        _close_codes(AuthorizationCode.grant_id == grant_id)
        counts = RevokedCounts(
            revoke_tokens(AccessToken.grant_id == grant_id),
            revoke_refresh_tokens(RefreshToken.grant_id == grant_id),
        )
    log.info(
        "grant %s revoked: %d access tokens, %d refresh tokens",
        grant_id,
        counts.access_tokens,
        counts.refresh_tokens,
    )
    return counts


def revoke_client_tokens(client_id: str) -> RevokedCounts:
    """Revoke every code and token issued to the client ``client_id``."""
    with database.atomic():
        _close_codes(AuthorizationCode.client_id == client_id)
        return RevokedCounts(
            revoke_tokens(AccessToken.client_id == client_id),
            revoke_refresh_tokens(RefreshToken.client_id == client_id),
        )


def revoke_client_grants(client_id: str) -> RevokedCounts:
    """Revoke what users granted ``client_id``: codes and their tokens.

    Client-credentials tokens, which carry no grant, stay valid.
    """
    with database.atomic():
        _close_codes(AuthorizationCode.client_id == client_id)
        return RevokedCounts(
            revoke_tokens(
                (AccessToken.client_id == client_id)
                & AccessToken.grant_id.is_null(False)
            ),
            revoke_refresh_tokens(RefreshToken.client_id == client_id),
        )


def revoke_user_tokens(user_id: int, client_id: str | None = None) -> RevokedCounts:
    """Revoke every code and token of a user, or only those of one client."""
    code_conditions = [AuthorizationCode.user == user_id]
    access_conditions = [AccessToken.user == user_id]
    refresh_conditions = [RefreshToken.user == user_id]
    if client_id is not None:
        code_conditions.append(AuthorizationCode.client_id == client_id)
        access_conditions.append(AccessToken.client_id == client_id)
        refresh_conditions.append(RefreshToken.client_id == client_id)
    with database.atomic():
        _close_codes(*code_conditions)
        return RevokedCounts(
            revoke_tokens(*access_conditions),
            revoke_refresh_tokens(*refresh_conditions),
        )
