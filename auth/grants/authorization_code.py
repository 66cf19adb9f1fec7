"""The authorization code grant at the token endpoint (RFC 6749 §4.1.3).

The code must belong to the authenticated client, the redirect URI must
repeat the authorization request's, and the PKCE verifier (RFC 7636 §4.6)
must match the challenge. The tokens act as the user who approved the code
and carry its ``grant_id``, so that a replay of the code can revoke them.
"""

from __future__ import annotations

from auth.codes import redeem_code
from auth.errors import InvalidGrantError, InvalidRequestError
from auth.grants.base import TokenRequest, TokenResult, create_bearer_body
from auth.pkce import check_verifier, validate_verifier
from auth.refresh_tokens import RefreshTokenService
from auth.tokens import AccessTokenService
from models.codes import AuthorizationCode


class AuthorizationCodeGrant:
    grant_type = "authorization_code"
    writes_in_transaction = True

    def __init__(
        self, tokens: AccessTokenService, refresh_tokens: RefreshTokenService
    ) -> None:
        self.tokens = tokens
        self.refresh_tokens = refresh_tokens

    def create_token_response(self, request: TokenRequest) -> TokenResult:
        form = request.form
        code = form.get("code")
        if code is None:
            raise InvalidRequestError("The code parameter is missing.")
        verifier = form.get("code_verifier")
        if verifier is not None:
            validate_verifier(verifier)

        record = redeem_code(code)
        client_id = request.client.client.client_id
        if record.client_id != client_id:
            raise InvalidGrantError(log_detail="code was issued to another client")
        self._validate_redirect_uri(record, form.get("redirect_uri"))
        self._validate_verifier(record, verifier)
        user = record.user
        if not user.is_active:
            raise InvalidGrantError(log_detail="user is inactive")

        access_token, _ = self.tokens.issue(
            user, client_id, record.scope, grant_id=record.grant_id
        )
        refresh_token, _ = self.refresh_tokens.issue(
            user, client_id, record.scope, record.grant_id
        )
        body = create_bearer_body(
            access_token, self.tokens.lifetime_seconds, record.scope, refresh_token
        )
        return TokenResult(body=body, user=user, scope=record.scope)

    @staticmethod
    def _validate_redirect_uri(record: AuthorizationCode, sent: str | None) -> None:
        if sent is None:
            if record.redirect_uri_sent:
                raise InvalidRequestError("The redirect_uri parameter is missing.")
            return
        if sent != record.redirect_uri:
            raise InvalidGrantError(
                "The redirect_uri differs from the authorization request.",
                log_detail="redirect_uri mismatch",
            )

    @staticmethod
    def _validate_verifier(record: AuthorizationCode, verifier: str | None) -> None:
        if record.code_challenge is None:
            if verifier is not None:
                # A verifier without a challenge means the authorization
                # request lost its challenge on the way: a PKCE downgrade.
                raise InvalidRequestError(
                    "code_verifier was sent, but the authorization request had"
                    " no code_challenge."
                )
            return
        if verifier is None:
            raise InvalidRequestError("The code_verifier parameter is missing.")
        if not check_verifier(verifier, record.code_challenge):
            raise InvalidGrantError(
                "The code_verifier does not match the code_challenge.",
                log_detail="PKCE verification failed",
            )
