"""Grant types of the token endpoint, one module each, named by wire value."""

from auth.grants.authorization_code import AuthorizationCodeGrant
from auth.grants.base import Grant, TokenRequest, TokenResult
from auth.grants.client_credentials import ClientCredentialsGrant
from auth.grants.refresh_token import RefreshTokenGrant

__all__ = [
    "AuthorizationCodeGrant",
    "ClientCredentialsGrant",
    "Grant",
    "RefreshTokenGrant",
    "TokenRequest",
    "TokenResult",
]
