"""Parsing of Authorization headers: Basic (RFC 7617) and Bearer (RFC 6750)."""

from __future__ import annotations

import base64

import pytest

from auth.basic import (
    MAX_HEADER_LENGTH,
    MalformedCredentialsError,
    parse_basic,
    parse_bearer,
    split_authorization,
)


def encode(raw: bytes) -> str:
    return base64.b64encode(raw).decode("ascii")


@pytest.mark.parametrize("scheme", ["Basic", "basic", "BASIC", "bAsIc"])
def test_scheme_case_insensitive(scheme: str) -> None:
    assert split_authorization(f"{scheme} dXNlcjpwdw==") == ("basic", "dXNlcjpwdw==")


def test_split_tolerates_surrounding_spaces() -> None:
    assert split_authorization("  Bearer   abc.def  ") == ("bearer", "abc.def")


@pytest.mark.parametrize("header", ["", "   ", "Basic", "Basic   ", "Bearer"])
def test_split_without_credentials(header: str) -> None:
    with pytest.raises(MalformedCredentialsError, match="has no credentials"):
        split_authorization(header)


def test_split_too_long() -> None:
    with pytest.raises(MalformedCredentialsError, match="too long"):
        split_authorization("Basic " + "A" * MAX_HEADER_LENGTH)


def test_basic_ascii() -> None:
    assert parse_basic(encode(b"partner-sa:s3cret")) == ("partner-sa", "s3cret")


def test_basic_utf8() -> None:
    raw = "jürgen:pässwörd-✓".encode()

    assert parse_basic(encode(raw)) == ("jürgen", "pässwörd-✓")


def test_basic_password_with_colons() -> None:
    assert parse_basic(encode(b"partner-sa:a:b::c:")) == ("partner-sa", "a:b::c:")


def test_basic_empty_password() -> None:
    assert parse_basic(encode(b"partner-sa:")) == ("partner-sa", "")


@pytest.mark.parametrize(
    "credentials",
    ["not base64!", "dXNlcjpwdw", "dXNlcjpwdw===x", "ä", "dXNl cjpwdw=="],
)
def test_basic_malformed_base64(credentials: str) -> None:
    with pytest.raises(MalformedCredentialsError, match="not base64"):
        parse_basic(credentials)


def test_basic_without_colon() -> None:
    with pytest.raises(MalformedCredentialsError, match="no colon"):
        parse_basic(encode(b"partner-sa"))


def test_basic_latin1_is_not_utf8() -> None:
    with pytest.raises(MalformedCredentialsError, match="not UTF-8"):
        parse_basic(encode("jürgen:pw".encode("latin-1")))


@pytest.mark.parametrize("raw", [b"user\x00:pw", b"us\ner:pw", b"\x7f:pw"])
def test_basic_control_characters_in_user_id(raw: bytes) -> None:
    with pytest.raises(MalformedCredentialsError, match="control characters"):
        parse_basic(encode(raw))


def test_bearer_token_syntax() -> None:
    token = "eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiJ4In0.c2ln-_~+/=="

    assert parse_bearer(token) == token


@pytest.mark.parametrize(
    "token", ["a b", "tök", "abc,def", '"abc"', "=abc", "a=b", "abc\n"]
)
def test_bearer_invalid_characters(token: str) -> None:
    with pytest.raises(MalformedCredentialsError, match="invalid characters"):
        parse_bearer(token)
