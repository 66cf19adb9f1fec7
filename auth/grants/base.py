"""The request every grant type receives and the result it returns."""

from __future__ import annotations

import dataclasses
from typing import Any, Protocol

from auth.client_auth import AuthenticatedClient
from models.batch import Statement
from models.users import User


@dataclasses.dataclass(frozen=True)
class TokenRequest:
    """A token request whose client has been authenticated."""

    form: dict[str, str]
    client: AuthenticatedClient
    remote_addr: str | None = None
    request_id: str | None = None


@dataclasses.dataclass(frozen=True)
class TokenResult:
    """A successful token response and the user it was issued for."""

    body: dict[str, Any]
    user: User
    scope: str
    #: Inserts that the endpoint commits, with its audit event, after the
    #: grant returns; a grant that writes inside the transaction leaves it empty.
    deferred: tuple[Statement, ...] = ()


class Grant(Protocol):
    #: The ``grant_type`` value of RFC 6749 that selects this grant.
    grant_type: str
    #: Whether the grant writes rows itself, inside the endpoint's transaction.
    #: A grant that only reads returns its inserts in ``TokenResult.deferred``.
    writes_in_transaction: bool

    def create_token_response(self, request: TokenRequest) -> TokenResult:
        """Validate the request and issue tokens, or raise an OAuth error."""
        ...


def create_bearer_body(
    access_token: str,
    expires_in: int,
    scope: str,
    refresh_token: str | None = None,
) -> dict[str, Any]:
    """Build the successful token response of RFC 6749 §5.1."""
    body: dict[str, Any] = {
        "access_token": access_token,
        "token_type": "Bearer",
        "expires_in": expires_in,
        "scope": scope,
    }
    if refresh_token is not None:
        body["refresh_token"] = refresh_token
    return body
