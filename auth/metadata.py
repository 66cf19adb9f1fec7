"""Authorization server metadata (RFC 8414 §2), listing only what is accepted."""

from __future__ import annotations

from typing import Any

from auth.client_auth import BASIC_METHOD, POST_METHOD, SUPPORTED_METHODS
from auth.pkce import CHALLENGE_METHODS
from auth.scopes import integration_scope

METADATA_PATH = "/.well-known/oauth-authorization-server"
AUTHORIZATION_PATH = "/o/authorize/"
TOKEN_PATH = "/o/token/"  # noqa: S105 - a path
REVOCATION_PATH = "/o/revoke/"
INTROSPECTION_PATH = "/o/introspect/"
JWKS_PATH = "/o/jwks/"


def create_metadata(
    issuer: str, grant_types: list[str], integration_names: list[str]
) -> dict[str, Any]:
    """Build the metadata document for ``issuer``.

    ``grant_types`` are those the token endpoint dispatches, and the scopes
    are one ``integration:NAME`` per loaded integration.
    """
    return {
        "issuer": issuer,
        "authorization_endpoint": issuer + AUTHORIZATION_PATH,
        "token_endpoint": issuer + TOKEN_PATH,
        "revocation_endpoint": issuer + REVOCATION_PATH,
        "introspection_endpoint": issuer + INTROSPECTION_PATH,
        "jwks_uri": issuer + JWKS_PATH,
        "grant_types_supported": sorted(grant_types),
        "response_types_supported": ["code"],
        "response_modes_supported": ["query"],
        "code_challenge_methods_supported": list(CHALLENGE_METHODS),
        "token_endpoint_auth_methods_supported": list(SUPPORTED_METHODS),
        "revocation_endpoint_auth_methods_supported": list(SUPPORTED_METHODS),
        # Introspection needs a client that can prove its identity.
        "introspection_endpoint_auth_methods_supported": [BASIC_METHOD, POST_METHOD],
        "scopes_supported": [integration_scope(name) for name in integration_names],
        "authorization_response_iss_parameter_supported": True,
    }
