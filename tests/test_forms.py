"""Form bodies of OAuth requests (RFC 6749 §3.2 and appendix B)."""

from __future__ import annotations

import pytest

from auth.errors import InvalidRequestError
from auth.forms import MAX_PARAMETERS, parse_form


@pytest.mark.parametrize(
    "content_type",
    [
        "application/x-www-form-urlencoded",
        "application/x-www-form-urlencoded; charset=UTF-8",
        "Application/X-WWW-Form-Urlencoded",
        "x-www-form-urlencoded",
    ],
)
def test_form_media_types(content_type: str) -> None:
    form = parse_form(b"grant_type=client_credentials", content_type)

    assert form == {"grant_type": "client_credentials"}


@pytest.mark.parametrize(
    "content_type", [None, "", "application/json", "text/plain", "multipart/form-data"]
)
def test_other_media_types_rejected(content_type: str | None) -> None:
    with pytest.raises(InvalidRequestError) as caught:
        parse_form(b"grant_type=client_credentials", content_type)

    assert caught.value.description == (
        "The body must be application/x-www-form-urlencoded."
    )


def test_form_decoding_plus_and_percent() -> None:
    form = parse_form(
        b"scope=integration%3Aecho+integration%3Acrm", "x-www-form-urlencoded"
    )

    assert form == {"scope": "integration:echo integration:crm"}


def test_empty_values_are_omitted() -> None:
    form = parse_form(
        b"grant_type=client_credentials&scope=&client_id", "x-www-form-urlencoded"
    )

    assert form == {"grant_type": "client_credentials"}


def test_repeated_parameter_rejected() -> None:
    with pytest.raises(InvalidRequestError) as caught:
        parse_form(
            b"scope=a&grant_type=client_credentials&scope=b", "x-www-form-urlencoded"
        )

    assert caught.value.description == "A parameter is repeated in the request."
    assert "scope" in caught.value.log_detail


def test_repeated_empty_parameter_rejected() -> None:
    with pytest.raises(InvalidRequestError):
        parse_form(b"scope=&scope=a", "x-www-form-urlencoded")


def test_body_not_utf8() -> None:
    with pytest.raises(InvalidRequestError) as caught:
        parse_form(b"client_id=\xff", "x-www-form-urlencoded")

    assert caught.value.description == "The body is not valid UTF-8."


def test_percent_encoded_bytes_not_utf8() -> None:
    with pytest.raises(InvalidRequestError) as caught:
        parse_form(b"client_id=%FF", "x-www-form-urlencoded")

    assert caught.value.description == "The body is not a valid form."


def test_too_many_parameters() -> None:
    body = "&".join(f"p{index}=v" for index in range(MAX_PARAMETERS + 1)).encode()

    with pytest.raises(InvalidRequestError) as caught:
        parse_form(body, "x-www-form-urlencoded")

    assert caught.value.description == "The body is not a valid form."
