"""Redirect URI matching: exact, except the port of a loopback IP literal."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from auth.clients import ClientError, validate_redirect_uri
from auth.errors import InvalidRedirectUriError
from auth.redirect_uris import check_redirect_uri, resolve_redirect_uri
from models.clients import AUTHORIZATION_CODE, Client

REGISTERED = "https://partner.example/callback"


def test_identical_uri_matches() -> None:
    assert check_redirect_uri(REGISTERED, REGISTERED)


@pytest.mark.parametrize(
    "requested",
    [
        "https://partner.example/callback/",  # trailing slash
        "https://partner.example/Callback",  # path case
        "https://PARTNER.example/callback",  # host case
        "http://partner.example/callback",  # scheme
        "https://partner.example:443/callback",  # explicit default port
        "https://partner.example:8443/callback",  # other port, not loopback
        "https://partner.example/callback?next=/admin",  # added query
        "https://partner.example/callback#fragment",  # added fragment
        "https://partner.example/callback/../callback",  # dot segments
        "https://partner.example/%63allback",  # percent-encoded letter
        "https://partner.example.evil.test/callback",  # host suffix
        "https://evil.test@partner.example/callback",  # userinfo
        "https://partner.example/callback/evil",  # path prefix
        "https://partner.example/callbac",  # truncated
        " https://partner.example/callback",  # leading space
        "https://partner.example/callback\n",  # trailing line break
    ],
)
def test_mismatch_is_rejected(requested: str) -> None:
    assert not check_redirect_uri(REGISTERED, requested)


@pytest.mark.parametrize(
    ("registered", "requested"),
    [
        ("http://127.0.0.1/callback", "http://127.0.0.1:51004/callback"),
        ("http://127.0.0.1:8080/callback", "http://127.0.0.1:9090/callback"),
        ("http://127.0.0.1:8080/callback", "http://127.0.0.1/callback"),
        ("http://[::1]/callback", "http://[::1]:51004/callback"),
        ("http://127.0.0.1/cb?app=1", "http://127.0.0.1:1234/cb?app=1"),
    ],
)
def test_loopback_literal_port_may_differ(registered: str, requested: str) -> None:
    assert check_redirect_uri(registered, requested)


@pytest.mark.parametrize(
    ("registered", "requested"),
    [
        # localhost is not an IP literal (RFC 8252 §8.3).
        ("http://localhost/callback", "http://localhost:51004/callback"),
        # Only the port may differ: path, query, host and scheme may not.
        ("http://127.0.0.1/callback", "http://127.0.0.1:51004/other"),
        ("http://127.0.0.1/callback", "http://127.0.0.1:51004/callback?x=1"),
        ("http://127.0.0.1/callback", "http://127.0.0.2:51004/callback"),
        ("http://127.0.0.1/callback", "http://[::1]:51004/callback"),
        ("http://127.0.0.1/callback", "https://127.0.0.1:51004/callback"),
        # Not a valid port.
        ("http://127.0.0.1/callback", "http://127.0.0.1:0/callback"),
        ("http://127.0.0.1/callback", "http://127.0.0.1:65536/callback"),
        ("http://127.0.0.1/callback", "http://127.0.0.1:/callback"),
        ("http://127.0.0.1/callback", "http://127.0.0.1:80a/callback"),
        # White space and control characters around the port.
        ("http://127.0.0.1/callback", "http://127.0.0.1:9999\n/callback"),
        ("http://127.0.0.1/callback", "http://127.0.0.1: 9999/callback"),
        ("http://127.0.0.1/callback", "http://127.0.0.1:9999 /callback"),
        ("http://127.0.0.1/callback", "http://127.0.0.1:9999\t/callback"),
        ("http://127.0.0.1/callback", "http://127.0.0.1:9999\x00/callback"),
        ("http://127.0.0.1/callback", "http://127.0.0.1:\u0669999/callback"),
        # Credentials never match.
        ("http://127.0.0.1/callback", "http://a@127.0.0.1:5000/callback"),
        # A non-loopback literal gets no exception.
        ("http://10.0.0.1/callback", "http://10.0.0.1:5000/callback"),
    ],
)
def test_loopback_exception_is_narrow(registered: str, requested: str) -> None:
    assert not check_redirect_uri(registered, requested)


def test_resolve_without_uri_uses_single_registered(
    db: object, make_client: Callable[..., tuple[Client, str | None]]
) -> None:
    client, _ = make_client(
        grant_types=[AUTHORIZATION_CODE], redirect_uris=[REGISTERED]
    )
    assert resolve_redirect_uri(client, None) == REGISTERED


def test_resolve_without_uri_fails_when_several(
    make_client: Callable[..., tuple[Client, str | None]],
) -> None:
    client, _ = make_client(
        grant_types=[AUTHORIZATION_CODE],
        redirect_uris=[REGISTERED, "https://partner.example/other"],
    )
    with pytest.raises(InvalidRedirectUriError):
        resolve_redirect_uri(client, None)
    assert resolve_redirect_uri(client, "https://partner.example/other") == (
        "https://partner.example/other"
    )


def test_resolve_returns_requested_loopback_port(
    make_client: Callable[..., tuple[Client, str | None]],
) -> None:
    client, _ = make_client(
        client_type="public",
        grant_types=[AUTHORIZATION_CODE],
        redirect_uris=["http://127.0.0.1/callback"],
    )
    requested = "http://127.0.0.1:43210/callback"
    assert resolve_redirect_uri(client, requested) == requested


def test_resolve_rejects_unregistered(
    make_client: Callable[..., tuple[Client, str | None]],
) -> None:
    client, _ = make_client(
        grant_types=[AUTHORIZATION_CODE], redirect_uris=[REGISTERED]
    )
    with pytest.raises(InvalidRedirectUriError):
        resolve_redirect_uri(client, REGISTERED + "/")


@pytest.mark.parametrize(
    "requested",
    [
        "http://127.0.0.1:9999\n/callback",
        "http://127.0.0.1/callback\r\n",
        "http://127.0.0.1:9999/call back",
        "http://127.0.0.1:9999/callback\u2028",
        "http://127.0.0.1:9999/callback\u00a0",
    ],
)
def test_resolve_rejects_white_space(
    make_client: Callable[..., tuple[Client, str | None]], requested: str
) -> None:
    client, _ = make_client(
        client_type="public",
        grant_types=[AUTHORIZATION_CODE],
        redirect_uris=["http://127.0.0.1/callback"],
    )
    with pytest.raises(InvalidRedirectUriError, match="white space"):
        resolve_redirect_uri(client, requested)


@pytest.mark.parametrize(
    "uri", ["https://partner.example/caf\u00e9", "https://partner.example/\u20ac"]
)
def test_non_ascii_uri_cannot_be_registered(uri: str) -> None:
    with pytest.raises(ClientError, match="not ASCII"):
        validate_redirect_uri(uri)
