"""The refresh token grant (RFC 6749 §6), with rotation (RFC 9700 §4.14.2).

Each use returns a new refresh token of the same family and scope and makes
the presented one unusable. The request may narrow the access token's scope
but never widen it beyond what the user approved.
"""

from __future__ import annotations

from auth.errors import InvalidGrantError, InvalidRequestError, InvalidScopeError
from auth.grants.base import TokenRequest, TokenResult, create_bearer_body
from auth.refresh_tokens import RefreshTokenService
from auth.scopes import format_scope, parse_scope
from auth.tokens import AccessTokenService


class RefreshTokenGrant:
    grant_type = "refresh_token"  # noqa: S105 - the grant type's wire value
    writes_in_transaction = True

    def __init__(
        self, tokens: AccessTokenService, refresh_tokens: RefreshTokenService
    ) -> None:
        self.tokens = tokens
        self.refresh_tokens = refresh_tokens

    def create_token_response(self, request: TokenRequest) -> TokenResult:
        presented = request.form.get("refresh_token")
        if presented is None:
            raise InvalidRequestError("The refresh_token parameter is missing.")
        requested = parse_scope(request.form.get("scope"))

        record = self.refresh_tokens.rotate(presented)
        client_id = request.client.client.client_id
        if record.client_id != client_id:
            raise InvalidGrantError(
                log_detail="refresh token was issued to another client"
            )
        user = record.user
        if not user.is_active:
            raise InvalidGrantError(log_detail="user is inactive")

        approved = frozenset(record.scope.split())
        if requested is not None and not requested <= approved:
            raise InvalidScopeError(
                "The scope exceeds what the user approved.",
                log_detail=f"not approved: {sorted(requested - approved)}",
            )
        scope = format_scope(requested) if requested is not None else record.scope

        access_token, _ = self.tokens.issue(
            user, client_id, scope, grant_id=record.grant_id
        )
        refresh_token, _ = self.refresh_tokens.issue(
            user,
            client_id,
            record.scope,
            record.grant_id,
            family_expires_at=record.family_expires_at,
        )
        body = create_bearer_body(
            access_token, self.tokens.lifetime_seconds, scope, refresh_token
        )
        return TokenResult(body=body, user=user, scope=scope)
