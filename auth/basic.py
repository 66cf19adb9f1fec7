"""Parsing of ``Authorization`` headers: Basic (RFC 7617) and Bearer (RFC 6750)."""

from __future__ import annotations

import binascii
import re

_CONTROL_CHARACTER = re.compile(r"[\x00-\x1f\x7f]")
# RFC 6750 §2.1 b64token characters.
_B64TOKEN = re.compile(r"^[A-Za-z0-9\-._~+/]+=*\Z")
MAX_HEADER_LENGTH = 8192


class MalformedCredentialsError(ValueError):
    """The ``Authorization`` header could not be parsed."""


def split_authorization(header: str) -> tuple[str, str]:
    """Split a header into its lower-cased scheme and its credentials."""
    if len(header) > MAX_HEADER_LENGTH:
        raise MalformedCredentialsError("Authorization header is too long")
    scheme, _, credentials = header.strip().partition(" ")
    if not scheme or not credentials.strip():
        raise MalformedCredentialsError("Authorization header has no credentials")
    return scheme.lower(), credentials.strip()


def parse_basic(credentials: str) -> tuple[str, str]:
    """Decode Basic credentials into a user-id and a password (RFC 7617 §2).

    The user-id ends at the first colon, so the password may contain colons.
    Both are read as UTF-8, the charset the gateway announces.
    """
    try:
        # Strict mode rejects any character outside the base64 alphabet.
        raw = binascii.a2b_base64(credentials.encode("ascii"), strict_mode=True)
    except (binascii.Error, UnicodeEncodeError):
        raise MalformedCredentialsError("Basic credentials are not base64") from None
    try:
        decoded = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise MalformedCredentialsError("Basic credentials are not UTF-8") from None
    user_id, colon, password = decoded.partition(":")
    if not colon:
        raise MalformedCredentialsError("Basic credentials have no colon")
    if _CONTROL_CHARACTER.search(user_id):
        raise MalformedCredentialsError("Basic user-id has control characters")
    return user_id, password


def parse_bearer(credentials: str) -> str:
    """Check that Bearer credentials have the RFC 6750 token syntax."""
    if not _B64TOKEN.match(credentials):
        raise MalformedCredentialsError("Bearer token has invalid characters")
    return credentials
