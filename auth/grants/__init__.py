"""Grant types of the token endpoint, one module each, named by wire value."""

from auth.grants.base import Grant, TokenRequest, TokenResult
from auth.grants.client_credentials import ClientCredentialsGrant

__all__ = ["ClientCredentialsGrant", "Grant", "TokenRequest", "TokenResult"]
