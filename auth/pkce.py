"""Proof Key for Code Exchange (RFC 7636), with the ``S256`` method only.

``plain`` is not offered: it protects nothing once the authorization request
leaks, and RFC 9700 §2.1.1 recommends ``S256``. A challenge sent without a
method means ``plain`` (RFC 7636 §4.3), so it is rejected as well.
"""

from __future__ import annotations

import base64
import hashlib
import re

from auth.errors import InvalidRequestError
from auth.secrets import check_equal

S256 = "S256"
CHALLENGE_METHODS = [S256]

# RFC 7636 §4.1: code-verifier = 43*128 unreserved characters.
_VERIFIER = re.compile(r"[A-Za-z0-9\-._~]{43,128}")
# The base64url encoding of a SHA-256 digest, without padding, is 43 characters.
_S256_CHALLENGE = re.compile(r"[A-Za-z0-9\-_]{43}")


def create_s256_challenge(verifier: str) -> str:
    """Return BASE64URL(SHA256(ASCII(verifier))) without padding (RFC 7636 §4.2)."""
    digest = hashlib.sha256(verifier.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


def validate_challenge(challenge: str | None, method: str | None) -> None:
    """Raise ``invalid_request`` unless the pair is absent or a valid S256 pair."""
    if challenge is None:
        if method is not None:
            raise InvalidRequestError(
                "code_challenge_method was sent without code_challenge."
            )
        return
    if method != S256:
        raise InvalidRequestError("code_challenge_method must be S256.")
    if not _S256_CHALLENGE.fullmatch(challenge):
        raise InvalidRequestError("code_challenge is not a valid S256 challenge.")


def validate_verifier(verifier: str) -> None:
    """Raise ``invalid_request`` unless ``verifier`` has the RFC 7636 syntax."""
    if not _VERIFIER.fullmatch(verifier):
        raise InvalidRequestError(
            "code_verifier must be 43 to 128 unreserved characters."
        )


def check_verifier(verifier: str, challenge: str) -> bool:
    """Return whether ``verifier`` hashes to ``challenge``, in constant time."""
    return check_equal(create_s256_challenge(verifier), challenge)
