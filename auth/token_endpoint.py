"""The token endpoint (RFC 6749 §3.2): client authentication, then the grant.

Every issued or refused token is written to the audit trail in the same
transaction as the token record, before the response goes out.
"""

from __future__ import annotations

import contextlib
import logging
from typing import Any

from auth.client_auth import ClientAuthenticationError, authenticate_client
from auth.errors import (
    InvalidRequestError,
    OAuthError,
    ReusedGrantError,
    UnauthorizedClientError,
    UnsupportedGrantTypeError,
)
from auth.grants.base import Grant, TokenRequest
from auth.refusals import record_refusal
from auth.revocation import revoke_grant
from models.audit import INSERT_EVENT, SUCCESS, event_row, record_event
from models.base import database
from models.batch import GroupWriter

log = logging.getLogger("integration_gateway.auth.token")

TOKEN_ISSUE = "token.issue"  # noqa: S105 - an audit action
GRANT_REVOKE = "grant.revoke"


class TokenEndpoint:
    """Dispatches token requests to the grant named by ``grant_type``."""

    def __init__(
        self, grants: list[Grant], secret_key: str, writer: GroupWriter
    ) -> None:
        self.grants = {grant.grant_type: grant for grant in grants}
        self.secret_key = secret_key
        self.writer = writer

    @property
    def grant_types(self) -> list[str]:
        return sorted(self.grants)

    async def create_token_response(
        self,
        form: dict[str, str],
        authorization: str | None,
        remote_addr: str | None = None,
        request_id: str | None = None,
    ) -> dict[str, Any]:
        """Issue a token for the request, or raise an :class:`OAuthError`."""
        client_id = form.get("client_id")
        grant_type = form.get("grant_type", "")
        try:
            grant = self._select_grant(grant_type)
            client = authenticate_client(form, authorization, self.secret_key)
            client_id = client.client.client_id
            if not client.client.allows_grant(grant_type):
                raise UnauthorizedClientError()
            request = TokenRequest(form, client, remote_addr, request_id)
            # A grant that only reads needs no transaction of its own.
            transaction = (
                database.atomic()
                if grant.writes_in_transaction
                else contextlib.nullcontext()
            )
            with transaction:
                result = grant.create_token_response(request)
                event = event_row(
                    TOKEN_ISSUE,
                    SUCCESS,
                    actor=result.user.username,
                    client_id=client_id,
                    target=grant_type,
                    remote_addr=remote_addr,
                    request_id=request_id,
                    detail=f"scope: {result.scope}" if result.scope else None,
                )
                if not result.deferred:
                    INSERT_EVENT.execute(**event)
            if result.deferred:
                await self.writer.write(*result.deferred, (INSERT_EVENT, event))
        except ReusedGrantError as error:
            # The transaction above rolled back; this revocation commits alone.
            counts = revoke_grant(error.grant_id)
            record_event(
                GRANT_REVOKE,
                SUCCESS,
                client_id=client_id,
                target=error.grant_id,
                remote_addr=remote_addr,
                request_id=request_id,
                detail=f"reuse detected, {counts.total} tokens revoked",
            )
            self.record_refusal(error, grant_type, client_id, remote_addr, request_id)
            raise
        except OAuthError as error:
            if isinstance(error, ClientAuthenticationError) and error.client_id:
                client_id = error.client_id
            self.record_refusal(error, grant_type, client_id, remote_addr, request_id)
            raise
        log.info(
            "token issued: client_id=%s user=%s grant_type=%s request_id=%s",
            client_id,
            result.user.username,
            grant_type,
            request_id,
        )
        return result.body

    def _select_grant(self, grant_type: str) -> Grant:
        if not grant_type:
            raise InvalidRequestError("The grant_type parameter is missing.")
        grant = self.grants.get(grant_type)
        if grant is None:
            raise UnsupportedGrantTypeError()
        return grant

    def record_refusal(
        self,
        error: OAuthError,
        grant_type: str,
        client_id: str | None,
        remote_addr: str | None,
        request_id: str | None,
    ) -> None:
        """Log and audit a refused token request."""
        record_refusal(
            TOKEN_ISSUE,
            error,
            client_id,
            remote_addr,
            request_id,
            target=grant_type[:40] or None,
        )
