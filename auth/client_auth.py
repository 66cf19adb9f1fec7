"""Client authentication at the token endpoint (RFC 6749 §2.3).

A confidential client sends its id and secret either in an ``Authorization:
Basic`` header, where both parts are form-urlencoded (§2.3.1), or as
``client_id`` and ``client_secret`` in the body; never both ways at once. A
public client only names itself with ``client_id``.
"""

from __future__ import annotations

import dataclasses
import re
import urllib.parse

from auth.basic import MalformedCredentialsError, parse_basic, split_authorization
from auth.clients import digest_secret
from auth.errors import InvalidClientError, InvalidRequestError
from auth.secrets import check_equal
from models.clients import Client, query_client

BASIC_METHOD = "client_secret_basic"
POST_METHOD = "client_secret_post"
NONE_METHOD = "none"
SUPPORTED_METHODS = [BASIC_METHOD, POST_METHOD, NONE_METHOD]

# RFC 6749 appendix A.1: a client_id is VSCHAR (%x20-7E). Anything else names
# no client, and a NUL would make PostgreSQL reject the query.
MAX_CLIENT_ID_LENGTH = 64
_CLIENT_ID = re.compile(rf"[\x20-\x7e]{{1,{MAX_CLIENT_ID_LENGTH}}}")


def check_client_id_syntax(client_id: str) -> bool:
    """Return whether ``client_id`` may name a client and so be looked up."""
    return _CLIENT_ID.fullmatch(client_id) is not None


class ClientAuthenticationError(InvalidClientError):
    """``invalid_client`` that remembers whether the client used Basic."""

    def __init__(
        self, used_basic: bool, *, client_id: str | None = None, log_detail: str = ""
    ) -> None:
        super().__init__(log_detail=log_detail)
        self.used_basic = used_basic
        #: The client_id the request claimed, clipped, for the audit trail.
        self.client_id = client_id[:64] if client_id else None
        if not used_basic:
            # RFC 6749 §5.2 requires 401 with a challenge only for Basic.
            self.status_code = 400


@dataclasses.dataclass(frozen=True)
class AuthenticatedClient:
    client: Client
    #: ``client_secret_basic``, ``client_secret_post`` or ``none``.
    method: str


def _read_basic(authorization: str) -> tuple[str, str]:
    try:
        scheme, credentials = split_authorization(authorization)
        if scheme != "basic":
            raise MalformedCredentialsError("not Basic")
        client_id, client_secret = parse_basic(credentials)
    except MalformedCredentialsError as error:
        raise InvalidRequestError(
            "The Authorization header is malformed.", log_detail=str(error)
        ) from None
    return urllib.parse.unquote_plus(client_id), urllib.parse.unquote_plus(
        client_secret
    )


def authenticate_client(
    form: dict[str, str], authorization: str | None, secret_key: str
) -> AuthenticatedClient:
    """Return the client behind the request, or raise ``invalid_client``."""
    body_id = form.get("client_id")
    body_secret = form.get("client_secret")

    if authorization:
        client_id, client_secret = _read_basic(authorization)
        if body_secret is not None or (body_id is not None and body_id != client_id):
            raise InvalidRequestError(
                "Use one client authentication method, not several."
            )
        method = BASIC_METHOD
        used_basic = True
    elif body_id is not None:
        client_id, client_secret = body_id, body_secret or ""
        method = POST_METHOD if body_secret is not None else NONE_METHOD
        used_basic = False
    else:
        # No credentials at all: invite Basic, as for a failed Basic attempt.
        raise ClientAuthenticationError(True, log_detail="no client credentials")

    # Read from the database on every request, not remembered: a token issued
    # for a client another process just deleted or gave a new secret would
    # outlive the change by its whole lifetime.
    client = query_client(client_id) if check_client_id_syntax(client_id) else None
    if client is None:
        raise ClientAuthenticationError(
            used_basic, client_id=client_id, log_detail="unknown client"
        )

    if client.secret_digest is None:
        # A public client proves nothing; it may only name itself.
        if client_secret:
            raise ClientAuthenticationError(
                used_basic,
                client_id=client_id,
                log_detail="public client sent a secret",
            )
        return AuthenticatedClient(client, NONE_METHOD)

    expected = client.secret_digest
    if not client_secret or not check_equal(
        digest_secret(secret_key, client_secret), expected
    ):
        raise ClientAuthenticationError(
            used_basic, client_id=client_id, log_detail="wrong client secret"
        )
    return AuthenticatedClient(client, method)
