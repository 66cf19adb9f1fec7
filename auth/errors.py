"""OAuth 2.0 errors: one class per RFC error code, with its status.

Descriptions are fixed ASCII text (RFC 6749 §5.2 limits the character set) and
never contain request input; details for operators go to the log instead.
"""

from __future__ import annotations

from auth.log_text import MAX_LOG_DETAIL_LENGTH, clip_for_log


class OAuthError(Exception):
    """Base of every error the OAuth endpoints return."""

    error: str = "server_error"
    description: str = "The server could not complete the request."
    status_code: int = 400

    def __init__(self, description: str | None = None, *, log_detail: str = ""):
        if description is not None:
            self.description = description
        # Text for the server log only; never sent to the client. It may
        # carry request input, so it is clipped.
        self.log_detail = clip_for_log(log_detail, MAX_LOG_DETAIL_LENGTH)
        super().__init__(self.description)

    def to_dict(self) -> dict[str, str]:
        return {"error": self.error, "error_description": self.description}


class InvalidRequestError(OAuthError):
    error = "invalid_request"
    description = "The request is missing a parameter or is malformed."


class InvalidClientError(OAuthError):
    """RFC 6749 §5.2: client authentication failed."""

    error = "invalid_client"
    description = "Client authentication failed."
    status_code = 401


class InvalidGrantError(OAuthError):
    error = "invalid_grant"
    description = "The grant is invalid, expired or revoked."


class ReusedGrantError(InvalidGrantError):
    """A code or refresh token was presented after it had been used.

    RFC 6749 §4.1.2 and RFC 9700 §4.14.2: the token endpoint revokes every
    token of ``grant_id`` before it returns ``invalid_grant``.
    """

    def __init__(self, grant_id: str, *, log_detail: str = "") -> None:
        super().__init__(log_detail=log_detail)
        self.grant_id = grant_id


class UnauthorizedClientError(OAuthError):
    error = "unauthorized_client"
    description = "The client is not allowed to use this grant type."


class ClientNotPermittedError(UnauthorizedClientError):
    """An authenticated client asked for something it is not allowed to do."""

    status_code = 403


class UnsupportedGrantTypeError(OAuthError):
    error = "unsupported_grant_type"
    description = "The grant type is not supported."


class UnsupportedResponseTypeError(OAuthError):
    error = "unsupported_response_type"
    description = "The response type is not supported."


class InvalidScopeError(OAuthError):
    error = "invalid_scope"
    description = "The requested scope is invalid or exceeds what is allowed."


class AccessDeniedError(OAuthError):
    error = "access_denied"
    description = "The resource owner denied the request."
    status_code = 403


class AuthorizationPageError(OAuthError):
    """An authorization request error shown to the user, never redirected.

    RFC 6749 §4.1.2.1: when the client or the redirect URI cannot be trusted,
    redirecting would send the user, and maybe an attacker's request, to an
    unchecked address.
    """

    error = "invalid_request"
    description = "The authorization request is invalid."


class UnknownClientError(AuthorizationPageError):
    description = "The client is unknown."


class InvalidRedirectUriError(AuthorizationPageError):
    description = "The redirect URI is invalid or not registered for the client."


class InvalidTokenError(OAuthError):
    """RFC 6750 §3.1: the access token is expired, revoked or malformed."""

    error = "invalid_token"
    description = "The access token is invalid, expired or revoked."
    status_code = 401


class InsufficientScopeError(OAuthError):
    error = "insufficient_scope"
    description = "The access token does not carry the scope this call needs."
    status_code = 403


class ServerError(OAuthError):
    error = "server_error"
    status_code = 500


class TemporarilyUnavailableError(OAuthError):
    error = "temporarily_unavailable"
    description = "The server is temporarily unable to handle the request."
    status_code = 503
