"""The token revocation endpoint (RFC 7009).

A client revokes its own access or refresh tokens. Revoking a refresh token
ends its whole grant, access tokens included.
"""

from __future__ import annotations

import logging

from auth.client_auth import authenticate_client
from auth.errors import (
    ClientNotPermittedError,
    InvalidRequestError,
    InvalidTokenError,
    OAuthError,
)
from auth.refresh_tokens import query_refresh_token
from auth.refusals import record_refusal
from auth.revocation import revoke_grant
from auth.tokens import AccessTokenService
from models.audit import SUCCESS, record_event
from models.tokens import AccessToken, revoke_tokens

log = logging.getLogger("integration_gateway.auth.revocation_endpoint")

ACCESS_TOKEN_HINT = "access_token"  # noqa: S105 - RFC 7009 hint value
REFRESH_TOKEN_HINT = "refresh_token"  # noqa: S105 - RFC 7009 hint value
UNKNOWN = "unknown"
TOKEN_REVOKE = "token.revoke"  # noqa: S105 - an audit action
MAX_TOKEN_LENGTH = 8192


class RevocationEndpoint:
    """The token revocation endpoint (RFC 7009 §2)."""

    def __init__(self, tokens: AccessTokenService, secret_key: str) -> None:
        self.tokens = tokens
        self.secret_key = secret_key

    def create_revocation_response(
        self,
        form: dict[str, str],
        authorization: str | None,
        remote_addr: str | None = None,
        request_id: str | None = None,
    ) -> str:
        """Authenticate the client, revoke its token and audit the outcome.

        Returns ``refresh_token``, ``access_token`` or ``unknown``. RFC 7009
        §2.2 responds 200 to an unknown, expired or already revoked token, so
        only a bad request, a failed client authentication and a token of
        another client raise an :class:`OAuthError`.
        """
        client_id = form.get("client_id")
        try:
            client = authenticate_client(form, authorization, self.secret_key)
            client_id = client.client.client_id
            kind = self.revoke(form, client_id)
        except OAuthError as error:
            record_refusal(
                TOKEN_REVOKE, error, client_id, remote_addr, request_id, TOKEN_REVOKE
            )
            raise
        record_event(
            TOKEN_REVOKE,
            SUCCESS,
            client_id=client_id,
            target=kind,
            remote_addr=remote_addr,
            request_id=request_id,
        )
        log.info(
            "revocation: client_id=%s token=%s request_id=%s",
            client_id,
            kind,
            request_id,
        )
        return kind

    def revoke(self, form: dict[str, str], client_id: str) -> str:
        """Revoke the token in ``form`` if ``client_id`` owns it; return its kind."""
        token = form.get("token")
        if token is None:
            raise InvalidRequestError("The token parameter is missing.")
        if len(token) > MAX_TOKEN_LENGTH:
            return UNKNOWN
        # The hint only orders the lookups (RFC 7009 §2.1); an unknown hint
        # value is ignored rather than refused.
        if form.get("token_type_hint") == ACCESS_TOKEN_HINT:
            lookups = [self._revoke_access_token, self._revoke_refresh_token]
        else:
            lookups = [self._revoke_refresh_token, self._revoke_access_token]
        for lookup in lookups:
            kind = lookup(token, client_id)
            if kind is not None:
                return kind
        return UNKNOWN

    def _revoke_refresh_token(self, token: str, client_id: str) -> str | None:
        record = query_refresh_token(token)
        if record is None:
            return None
        _check_owner(record.client_id, client_id)
        # RFC 7009 §2.1: revoking a refresh token ends its grant's access tokens.
        revoke_grant(record.grant_id)
        return REFRESH_TOKEN_HINT

    def _revoke_access_token(self, token: str, client_id: str) -> str | None:
        jti = self._read_jti(token)
        if jti is None:
            return None
        record = AccessToken.get_or_none(AccessToken.jti == jti)
        if record is None:
            return None
        _check_owner(record.client_id, client_id)
        revoke_tokens(AccessToken.id == record.id)
        return ACCESS_TOKEN_HINT

    def _read_jti(self, token: str) -> str | None:
        # The signature is checked, so that a forged token cannot name a jti.
        # An expired token is accepted: revoking it changes nothing.
        try:
            claims = self.tokens.decode_ignoring_expiry(token)
        except InvalidTokenError:
            return None
        jti = claims.get("jti")
        return jti if isinstance(jti, str) else None


def _check_owner(owner_client_id: str, client_id: str) -> None:
    if owner_client_id != client_id:
        raise ClientNotPermittedError(
            "The token was issued to another client.",
            log_detail=f"token of client {owner_client_id}",
        )
