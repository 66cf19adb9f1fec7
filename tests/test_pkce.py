"""PKCE (RFC 7636): the S256 transform, challenge and verifier syntax."""

from __future__ import annotations

import base64
import hashlib

import pytest

from auth.errors import InvalidRequestError
from auth.pkce import (
    check_verifier,
    create_s256_challenge,
    validate_challenge,
    validate_verifier,
)
from tests.oauth_support import CHALLENGE, VERIFIER

# RFC 7636 Appendix B: the 32 random octets behind the verifier, and the
# SHA-256 octets of the verifier.
RANDOM_OCTETS = [
    116, 24, 223, 180, 151, 153, 224, 37, 79, 250, 96, 125, 216, 173, 187, 186,
    22, 212, 37, 77, 105, 214, 191, 240, 91, 88, 5, 88, 83, 132, 141, 121,
]  # fmt: skip
DIGEST_OCTETS = [
    19, 211, 30, 150, 26, 26, 216, 236, 47, 22, 177, 12, 76, 152, 46, 8,
    118, 168, 120, 173, 109, 241, 68, 86, 110, 225, 137, 74, 203, 112, 249, 195,
]  # fmt: skip


def test_verifier_is_rfc7636_appendix_b_encoding() -> None:
    encoded = base64.urlsafe_b64encode(bytes(RANDOM_OCTETS)).rstrip(b"=")
    assert encoded.decode("ascii") == VERIFIER


def test_s256_matches_rfc7636_appendix_b() -> None:
    assert list(hashlib.sha256(VERIFIER.encode("ascii")).digest()) == DIGEST_OCTETS
    assert create_s256_challenge(VERIFIER) == (
        "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
    )


def test_check_verifier_accepts_matching_pair() -> None:
    assert check_verifier(VERIFIER, CHALLENGE)


def test_check_verifier_rejects_other_verifier() -> None:
    other = VERIFIER[:-1] + ("j" if VERIFIER[-1] != "j" else "k")
    assert not check_verifier(other, CHALLENGE)


def test_check_verifier_rejects_plain_comparison() -> None:
    # The verifier itself is not a valid S256 challenge for itself.
    assert not check_verifier(VERIFIER, VERIFIER)


def test_challenge_absent_is_allowed() -> None:
    validate_challenge(None, None)


def test_challenge_s256_is_allowed() -> None:
    validate_challenge(CHALLENGE, "S256")


@pytest.mark.parametrize(
    ("challenge", "method"),
    [
        (CHALLENGE, None),  # no method means plain (RFC 7636 §4.3)
        (CHALLENGE, "plain"),
        (CHALLENGE, "s256"),
        (CHALLENGE, "S512"),
        (None, "S256"),
        (CHALLENGE[:-1], "S256"),  # 42 characters
        (CHALLENGE + "A", "S256"),  # 44 characters
        (CHALLENGE[:-1] + "=", "S256"),  # padding is not base64url here
        (CHALLENGE[:-1] + "+", "S256"),  # base64, not base64url
        (VERIFIER + "abc", "S256"),  # a verifier-like value of another length
        (CHALLENGE + "\n", "S256"),  # a line break after a valid challenge
    ],
)
def test_invalid_challenge_is_invalid_request(
    challenge: str | None, method: str | None
) -> None:
    with pytest.raises(InvalidRequestError):
        validate_challenge(challenge, method)


@pytest.mark.parametrize(
    "verifier",
    ["a" * 43, "a" * 128, "A-._~" + "z" * 38, VERIFIER],
)
def test_valid_verifier_passes(verifier: str) -> None:
    validate_verifier(verifier)


@pytest.mark.parametrize(
    "verifier",
    [
        "a" * 42,
        "a" * 129,
        "a" * 42 + "+",
        "a" * 42 + "/",
        "a" * 42 + " ",
        "a" * 43 + "\n",
        "",
    ],
)
def test_malformed_verifier_is_invalid_request(verifier: str) -> None:
    with pytest.raises(InvalidRequestError):
        validate_verifier(verifier)
