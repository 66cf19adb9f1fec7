"""Client authentication at the token endpoint (RFC 6749 §2.3)."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from auth.client_auth import (
    BASIC_METHOD,
    NONE_METHOD,
    POST_METHOD,
    ClientAuthenticationError,
    authenticate_client,
)
from auth.clients import (
    CLIENT_ID_ALPHABET,
    ClientError,
    digest_secret,
    generate_client_id,
)
from auth.errors import InvalidRequestError
from handlers.gateway import Gateway
from models.clients import AUTHORIZATION_CODE, PUBLIC, Client
from tests.oauth_support import basic

ClientFactory = Callable[..., tuple[Client, str | None]]


def test_generated_client_ids() -> None:
    ids = [generate_client_id() for _ in range(2000)]

    assert len(set(ids)) == len(ids)
    assert all(len(client_id) == 22 for client_id in ids)
    assert all(client_id.isascii() and client_id.isalnum() for client_id in ids)
    # 22 characters from 62 carry at least 128 random bits.
    assert len(CLIENT_ID_ALPHABET) ** 22 >= 2**128


def test_secret_stored_only_as_keyed_digest(
    gateway: Gateway, cc_client: tuple[Client, str]
) -> None:
    client, secret = cc_client
    stored = Client.get_by_id(client.id)

    assert stored.secret_digest == digest_secret(gateway.client_secret_key, secret)
    assert secret not in stored.secret_digest
    assert len(secret) >= 43  # 32 random bytes in URL-safe base64


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("client_id", "a" * 22 + "\n"),
        ("client_id", "a" * 15),
        ("client_secret", "s" * 43 + "\n"),
        ("client_secret", "s" * 42),
    ],
)
def test_chosen_id_or_secret_must_match_syntax(
    make_client: ClientFactory, service_account: object, field: str, value: str
) -> None:
    with pytest.raises(ClientError) as caught:
        make_client(service_account=service_account, **{field: value})

    assert caught.value.field == field
    assert Client.select().count() == 0


def test_basic_header(gateway: Gateway, cc_client: tuple[Client, str]) -> None:
    client, secret = cc_client

    result = authenticate_client(
        {}, basic(client.client_id, secret), gateway.client_secret_key
    )

    assert result.client.client_id == client.client_id
    assert result.method == BASIC_METHOD


def test_basic_scheme_case_insensitive(
    gateway: Gateway, cc_client: tuple[Client, str]
) -> None:
    client, secret = cc_client
    header = basic(client.client_id, secret).replace("Basic", "bAsIc", 1)

    result = authenticate_client({}, header, gateway.client_secret_key)

    assert result.method == BASIC_METHOD


def test_basic_parts_are_form_decoded(
    gateway: Gateway, cc_client: tuple[Client, str]
) -> None:
    client, _ = cc_client
    # A secret with the characters that RFC 6749 §2.3.1 encoding changes.
    secret = "a+b c:d%e/f=g&h"
    client.secret_digest = digest_secret(gateway.client_secret_key, secret)
    client.save()

    result = authenticate_client(
        {}, basic(client.client_id, secret), gateway.client_secret_key
    )
    assert result.client.client_id == client.client_id

    with pytest.raises(ClientAuthenticationError):
        authenticate_client(
            {},
            basic(client.client_id, secret, encode_parts=False),
            gateway.client_secret_key,
        )


def test_body_credentials(gateway: Gateway, cc_client: tuple[Client, str]) -> None:
    client, secret = cc_client

    result = authenticate_client(
        {"client_id": client.client_id, "client_secret": secret},
        None,
        gateway.client_secret_key,
    )

    assert result.client.client_id == client.client_id
    assert result.method == POST_METHOD


def test_basic_and_body_secret_rejected(
    gateway: Gateway, cc_client: tuple[Client, str]
) -> None:
    client, secret = cc_client

    with pytest.raises(InvalidRequestError) as caught:
        authenticate_client(
            {"client_id": client.client_id, "client_secret": secret},
            basic(client.client_id, secret),
            gateway.client_secret_key,
        )

    assert caught.value.error == "invalid_request"
    assert caught.value.status_code == 400


def test_basic_with_other_body_client_id(
    gateway: Gateway, cc_client: tuple[Client, str]
) -> None:
    client, secret = cc_client

    with pytest.raises(InvalidRequestError):
        authenticate_client(
            {"client_id": "someone-else"},
            basic(client.client_id, secret),
            gateway.client_secret_key,
        )


def test_basic_with_same_body_client_id(
    gateway: Gateway, cc_client: tuple[Client, str]
) -> None:
    # RFC 6749 §3.2.1 lets a client name itself in the body as well.
    client, secret = cc_client

    result = authenticate_client(
        {"client_id": client.client_id},
        basic(client.client_id, secret),
        gateway.client_secret_key,
    )

    assert result.method == BASIC_METHOD


@pytest.mark.parametrize(
    "header", ["Basic", "Basic !!!", "Bearer abc", "Basic " + "QUJD"]
)
def test_malformed_basic_is_invalid_request(gateway: Gateway, header: str) -> None:
    with pytest.raises(InvalidRequestError) as caught:
        authenticate_client({}, header, gateway.client_secret_key)

    assert caught.value.description == "The Authorization header is malformed."


def test_wrong_secret_with_basic(
    gateway: Gateway, cc_client: tuple[Client, str]
) -> None:
    client, _ = cc_client

    with pytest.raises(ClientAuthenticationError) as caught:
        authenticate_client(
            {}, basic(client.client_id, "wrong"), gateway.client_secret_key
        )

    assert caught.value.error == "invalid_client"
    assert caught.value.status_code == 401
    assert caught.value.used_basic is True
    assert caught.value.log_detail == "wrong client secret"


def test_wrong_secret_in_body(gateway: Gateway, cc_client: tuple[Client, str]) -> None:
    client, _ = cc_client

    with pytest.raises(ClientAuthenticationError) as caught:
        authenticate_client(
            {"client_id": client.client_id, "client_secret": "wrong"},
            None,
            gateway.client_secret_key,
        )

    assert caught.value.status_code == 400
    assert caught.value.used_basic is False


def test_confidential_client_without_secret(
    gateway: Gateway, cc_client: tuple[Client, str]
) -> None:
    client, _ = cc_client

    with pytest.raises(ClientAuthenticationError) as caught:
        authenticate_client(
            {"client_id": client.client_id}, None, gateway.client_secret_key
        )

    assert caught.value.log_detail == "wrong client secret"


@pytest.mark.parametrize(
    "client_id", ["unknown", "x" * 65, "\x00", "tab\there", "%00", "ünïcode"]
)
def test_unknown_client(gateway: Gateway, client_id: str) -> None:
    with pytest.raises(ClientAuthenticationError) as caught:
        authenticate_client(
            {"client_id": client_id, "client_secret": "s"},
            None,
            gateway.client_secret_key,
        )

    assert caught.value.log_detail == "unknown client"


def test_unknown_client_in_basic_with_nul(gateway: Gateway) -> None:
    # "%00" passes the Basic parser and becomes NUL after form decoding.
    with pytest.raises(ClientAuthenticationError) as caught:
        authenticate_client(
            {}, basic("%00", "s", encode_parts=False), gateway.client_secret_key
        )

    assert caught.value.log_detail == "unknown client"
    assert caught.value.status_code == 401


def test_no_credentials_invites_basic(gateway: Gateway) -> None:
    with pytest.raises(ClientAuthenticationError) as caught:
        authenticate_client(
            {"grant_type": "client_credentials"}, None, gateway.client_secret_key
        )

    assert caught.value.status_code == 401
    assert caught.value.used_basic is True


def test_public_client_names_itself(
    gateway: Gateway, make_client: ClientFactory
) -> None:
    client, secret = make_client(
        client_type=PUBLIC,
        grant_types=[AUTHORIZATION_CODE],
        redirect_uris=["http://127.0.0.1:9999/callback"],
    )
    assert secret is None

    result = authenticate_client(
        {"client_id": client.client_id}, None, gateway.client_secret_key
    )

    assert result.method == NONE_METHOD

    with pytest.raises(ClientAuthenticationError) as caught:
        authenticate_client(
            {"client_id": client.client_id, "client_secret": "guess"},
            None,
            gateway.client_secret_key,
        )
    assert caught.value.log_detail == "public client sent a secret"
