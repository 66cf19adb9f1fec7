"""The authorization endpoint (RFC 6749 §4.1.1, §4.1.2), without the web layer.

The client and the redirect URI are checked first; a failure there raises an
:class:`AuthorizationPageError`, which is shown to the user because the
redirect target cannot be trusted. Every later error is sent back to the
client's redirect URI with ``state`` and ``iss`` (RFC 9207). Only
``response_type=code`` is offered, with PKCE ``S256`` (RFC 7636), required of
public clients.
"""

from __future__ import annotations

import dataclasses
import string
import urllib.parse
from collections.abc import Callable, Mapping

from auth.client_auth import check_client_id_syntax
from auth.codes import CodeBinding, create_code
from auth.consents import check_consent
from auth.errors import (
    AuthorizationPageError,
    InvalidRequestError,
    InvalidScopeError,
    OAuthError,
    UnauthorizedClientError,
    UnknownClientError,
    UnsupportedResponseTypeError,
)
from auth.pkce import validate_challenge
from auth.redirect_uris import resolve_redirect_uri
from auth.scopes import (
    format_scope,
    integration_scope,
    integrations_in_scope,
    parse_scope,
)
from models.clients import AUTHORIZATION_CODE, Client, query_client
from models.users import EXECUTE, User, query_integrations_with

CODE_RESPONSE_TYPE = "code"
MAX_STATE_LENGTH = 1024
#: The parameters this endpoint reads; each may appear at most once.
PARAMETERS = (
    "response_type",
    "client_id",
    "redirect_uri",
    "scope",
    "state",
    "code_challenge",
    "code_challenge_method",
)


@dataclasses.dataclass
class AuthorizationRequest:
    """An authorization request whose client and redirect URI are trusted.

    ``error`` is the first problem found after that point. The handler then
    redirects that error to the client.
    """

    client: Client
    redirect_uri: str
    #: Whether the request named the redirect URI (RFC 6749 §4.1.3).
    redirect_uri_sent: bool
    state: str | None
    #: The requested scope tokens; None when the request has no scope.
    scopes: frozenset[str] | None = None
    code_challenge: str | None = None
    code_challenge_method: str | None = None
    error: OAuthError | None = None


def decode_arguments(arguments: Mapping[str, list[bytes]]) -> dict[str, list[str]]:
    """Decode Tornado's raw request arguments as UTF-8, dropping empty values.

    RFC 6749 §3.1 treats a parameter without a value as omitted.
    """
    decoded: dict[str, list[str]] = {}
    for name in PARAMETERS:
        values = [value for value in arguments.get(name, []) if value]
        if not values:
            continue
        try:
            decoded[name] = [value.decode("utf-8") for value in values]
        except UnicodeDecodeError:
            raise AuthorizationPageError(
                "The authorization request is not valid UTF-8.",
                log_detail=f"{name} is not UTF-8",
            ) from None
    return decoded


class AuthorizationEndpoint:
    """Validates authorization requests and builds their redirects."""

    def __init__(
        self,
        issuer: str,
        code_lifetime_seconds: int,
        integration_names: Callable[[], list[str]],
    ) -> None:
        self.issuer = issuer
        self.code_lifetime_seconds = code_lifetime_seconds
        self.integration_names = integration_names

    def parse_request(self, arguments: dict[str, list[str]]) -> AuthorizationRequest:
        """Check the client and redirect URI, then the rest of the request.

        Raises :class:`AuthorizationPageError` when the client or redirect URI
        cannot be trusted; any later problem is stored in ``error``.
        """
        client = self._read_client(arguments.get("client_id", []))
        redirect_uris = arguments.get("redirect_uri", [])
        if len(redirect_uris) > 1:
            raise AuthorizationPageError(
                "The redirect_uri parameter is repeated.",
                log_detail="redirect_uri repeated",
            )
        requested_uri = redirect_uris[0] if redirect_uris else None
        redirect_uri = resolve_redirect_uri(client, requested_uri)

        states = arguments.get("state", [])
        state = states[0] if len(states) == 1 else None
        request = AuthorizationRequest(
            client=client,
            redirect_uri=redirect_uri,
            redirect_uri_sent=requested_uri is not None,
            state=state if state and len(state) <= MAX_STATE_LENGTH else None,
        )
        try:
            if len(states) > 1:
                raise InvalidRequestError("The state parameter is repeated.")
            if state is not None and len(state) > MAX_STATE_LENGTH:
                raise InvalidRequestError("The state parameter is too long.")
            self._validate(request, arguments)
        except OAuthError as error:
            request.error = error
        return request

    @staticmethod
    def _read_client(client_ids: list[str]) -> Client:
        if not client_ids:
            raise UnknownClientError(
                "The client_id parameter is missing.", log_detail="no client_id"
            )
        if len(client_ids) > 1:
            raise UnknownClientError(
                "The client_id parameter is repeated.",
                log_detail="client_id repeated",
            )
        client_id = client_ids[0]
        client = query_client(client_id) if check_client_id_syntax(client_id) else None
        if client is None:
            raise UnknownClientError(log_detail="unknown client_id")
        return client

    def _validate(
        self, request: AuthorizationRequest, arguments: dict[str, list[str]]
    ) -> None:
        if not request.client.allows_grant(AUTHORIZATION_CODE):
            raise UnauthorizedClientError(
                "The client may not use the authorization code grant."
            )
        for name, values in arguments.items():
            if len(values) > 1:
                raise InvalidRequestError(
                    "A parameter is repeated in the request.", log_detail=name
                )
        single = {name: values[0] for name, values in arguments.items()}

        response_type = single.get("response_type")
        if response_type is None:
            raise InvalidRequestError("The response_type parameter is missing.")
        if response_type != CODE_RESPONSE_TYPE:
            raise UnsupportedResponseTypeError(
                "Only the code response type is supported.",
                log_detail=f"response_type {response_type[:40]!r}",
            )

        challenge = single.get("code_challenge")
        method = single.get("code_challenge_method")
        validate_challenge(challenge, method)
        if challenge is None and not request.client.is_confidential:
            raise InvalidRequestError(
                "Public clients must send a PKCE code_challenge with method S256."
            )
        request.code_challenge = challenge
        request.code_challenge_method = method
        request.scopes = self._parse_scope(single.get("scope"))

    def _parse_scope(self, scope: str | None) -> frozenset[str] | None:
        scopes = parse_scope(scope)
        if scopes is None:
            return None
        names = integrations_in_scope(scopes)
        unknown = names - set(self.integration_names())
        if unknown:
            raise InvalidScopeError(
                "The scope names an unknown integration.",
                log_detail=f"unknown: {sorted(unknown)[:5]}",
            )
        return scopes

    def resolve_scopes(
        self, request: AuthorizationRequest, user: User
    ) -> frozenset[str]:
        """Return the scopes to approve for ``user``, or raise ``invalid_scope``.

        Without a requested scope, every integration the user may execute is
        asked for. A user may approve only integrations they may execute.
        """
        loaded = set(self.integration_names())
        held = {
            integration_scope(name)
            for name in query_integrations_with(user.id, EXECUTE)
            if name in loaded
        }
        if request.scopes is None:
            if not held:
                raise InvalidScopeError("The user may not execute any integration.")
            return frozenset(held)
        if not request.scopes <= held:
            raise InvalidScopeError(
                "The scope exceeds what the user may execute.",
                log_detail=f"not held: {sorted(request.scopes - held)[:5]}",
            )
        return request.scopes

    @staticmethod
    def check_remembered_consent(
        request: AuthorizationRequest, user: User, scopes: frozenset[str]
    ) -> bool:
        """Return whether the approval may be skipped because it is remembered.

        Only confidential clients qualify. Anyone can send a public client's
        id, so RFC 8252 §8.6 recommends showing the consent page every time.
        """
        if not request.client.is_confidential:
            return False
        return check_consent(user, request.client, scopes)

    def create_code_redirect(
        self, request: AuthorizationRequest, user: User, scopes: frozenset[str]
    ) -> str:
        """Issue a code for the approved request; return the redirect URL.

        The caller commits the code before sending the redirect.
        """
        binding = CodeBinding(
            client_id=request.client.client_id,
            user=user,
            redirect_uri=request.redirect_uri,
            redirect_uri_sent=request.redirect_uri_sent,
            scope=format_scope(scopes),
            code_challenge=request.code_challenge,
            code_challenge_method=request.code_challenge_method,
        )
        code = create_code(binding, self.code_lifetime_seconds)
        return self._redirect(request, [("code", code)])

    def create_error_redirect(
        self, request: AuthorizationRequest, error: OAuthError
    ) -> str:
        """Return the redirect URL that reports ``error`` to the client."""
        parameters = [
            ("error", error.error),
            ("error_description", error.description),
        ]
        return self._redirect(request, parameters)

    def _redirect(
        self, request: AuthorizationRequest, parameters: list[tuple[str, str]]
    ) -> str:
        if request.state is not None:
            parameters.append(("state", request.state))
        parameters.append(("iss", self.issuer))
        query = urllib.parse.urlencode(parameters, quote_via=urllib.parse.quote)
        # Registration accepts only ASCII, but a URI stored before that rule
        # must not break the Location header, which is sent as Latin-1.
        base = urllib.parse.quote(request.redirect_uri, safe=string.punctuation)
        # RFC 6749 §3.1.2: a query in the registered URI is kept.
        separator = "&" if "?" in base else "?"
        return base + separator + query
