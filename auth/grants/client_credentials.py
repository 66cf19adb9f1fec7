"""The client credentials grant (RFC 6749 §4.4).

The client acts as the service account it is bound to. Without a scope the
token allows every integration the service account may execute; a requested
scope must stay within those.
"""

from __future__ import annotations

from auth.errors import InvalidScopeError, UnauthorizedClientError
from auth.grants.base import TokenRequest, TokenResult
from auth.scopes import (
    format_scope,
    integration_scope,
    integrations_in_scope,
    parse_scope,
)
from auth.tokens import AccessTokenService
from models.tokens import INSERT_TOKEN, token_row
from models.users import EXECUTE, query_integrations_with


class ClientCredentialsGrant:
    grant_type = "client_credentials"
    # The token row is returned as a deferred insert.
    writes_in_transaction = False

    def __init__(self, tokens: AccessTokenService) -> None:
        self.tokens = tokens

    def create_token_response(self, request: TokenRequest) -> TokenResult:
        client = request.client.client
        if not client.is_confidential:
            raise UnauthorizedClientError(
                "Only confidential clients may use client credentials."
            )
        account = client.service_account
        if account is None or not account.is_service_account:
            raise UnauthorizedClientError(
                "The client is not bound to a service account."
            )
        if not account.is_active:
            raise UnauthorizedClientError("The client's service account is inactive.")

        allowed = set(query_integrations_with(account.id, EXECUTE))
        requested = parse_scope(request.form.get("scope"))
        if requested is None:
            if not allowed:
                raise InvalidScopeError(
                    "The service account may not execute any integration."
                )
            names = allowed
        else:
            names = integrations_in_scope(requested)
            if not names <= allowed:
                raise InvalidScopeError(
                    "The scope exceeds what the service account may execute.",
                    log_detail=f"not held: {sorted(names - allowed)}",
                )
        scope = format_scope({integration_scope(name) for name in names})

        # The token row is committed with the audit event by the endpoint,
        # grouped with concurrent requests, before the response goes out.
        token, record = self.tokens.sign(account, client.client_id, scope)
        body = {
            "access_token": token,
            "token_type": "Bearer",
            "expires_in": self.tokens.lifetime_seconds,
            "scope": scope,
        }
        return TokenResult(
            body=body,
            user=account,
            scope=scope,
            deferred=((INSERT_TOKEN, token_row(record)),),
        )
