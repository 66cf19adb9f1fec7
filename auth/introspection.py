"""Token introspection (RFC 7662) for clients marked as resource servers.

Only access tokens are introspected: a resource server receives nothing else.
A refresh token, like an expired, revoked or unknown token, is reported as
``{"active": false}`` without saying which case applies (RFC 7662 §2.2).
"""

from __future__ import annotations

from typing import Any

from auth.client_auth import (
    NONE_METHOD,
    AuthenticatedClient,
    ClientAuthenticationError,
    authenticate_client,
)
from auth.errors import (
    ClientNotPermittedError,
    InvalidRequestError,
    InvalidTokenError,
    OAuthError,
)
from auth.refusals import record_refusal
from auth.scopes import format_scope, integration_scope
from auth.tokens import AccessTokenService
from models.tokens import query_live_token_row
from models.users import EXECUTE, query_integrations_with

MAX_TOKEN_LENGTH = 8192
INTROSPECT = "token.introspect"


def validate_introspecting_client(
    client: AuthenticatedClient, used_basic: bool
) -> None:
    """Raise unless ``client`` proved its identity and is a resource server."""
    if client.method == NONE_METHOD:
        raise ClientAuthenticationError(
            used_basic, log_detail="public client may not introspect"
        )
    if not client.client.is_resource_server:
        raise ClientNotPermittedError(
            "The client may not introspect tokens.",
            log_detail="client is not a resource server",
        )


class IntrospectionEndpoint:
    """Describes access tokens to resource servers (RFC 7662 §2)."""

    def __init__(self, tokens: AccessTokenService, secret_key: str) -> None:
        self.tokens = tokens
        self.secret_key = secret_key

    def create_introspection_response(
        self,
        form: dict[str, str],
        authorization: str | None,
        remote_addr: str | None = None,
        request_id: str | None = None,
    ) -> dict[str, Any]:
        """Authenticate the resource server and describe the token in ``form``.

        Refusals are audited, successful responses are not, because a resource
        server may introspect on every call it receives.
        """
        client_id = form.get("client_id")
        try:
            client = authenticate_client(form, authorization, self.secret_key)
            client_id = client.client.client_id
            validate_introspecting_client(client, authorization is not None)
            return self.introspect(form)
        except OAuthError as error:
            record_refusal(
                INTROSPECT, error, client_id, remote_addr, request_id, INTROSPECT
            )
            raise

    def introspect(self, form: dict[str, str]) -> dict[str, Any]:
        """Return the introspection response for the token in ``form``."""
        token = form.get("token")
        if token is None:
            raise InvalidRequestError("The token parameter is missing.")
        if len(token) > MAX_TOKEN_LENGTH:
            return {"active": False}
        try:
            claims = self.tokens.decode(token)
        except InvalidTokenError:
            return {"active": False}
        # Live means unrevoked, unexpired and issued to a user still active.
        record = query_live_token_row(str(claims["jti"]))
        if record is None or record.username != claims["sub"]:
            return {"active": False}

        # The scope is narrowed to what the user may still execute, so that a
        # removed permission shows at once here as it does at the partner API.
        held = {
            integration_scope(name)
            for name in query_integrations_with(record.user_id, EXECUTE)
        }
        scope = format_scope(set(record.scope.split()) & held)
        return {
            "active": True,
            "scope": scope,
            "client_id": record.client_id,
            "username": record.username,
            "sub": claims["sub"],
            "exp": claims["exp"],
            "iat": claims["iat"],
            "iss": claims["iss"],
            "token_type": "Bearer",
        }
