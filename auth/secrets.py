"""Random secrets, keyed digests and constant-time comparison."""

from __future__ import annotations

import hashlib
import hmac
import secrets


def generate_token(num_bytes: int = 32) -> str:
    """Return a URL-safe random string carrying ``num_bytes`` of entropy."""
    return secrets.token_urlsafe(num_bytes)


def keyed_digest(key: str, value: str) -> str:
    """Return the hex HMAC-SHA256 of ``value`` under ``key``."""
    return hmac.new(key.encode(), value.encode(), hashlib.sha256).hexdigest()


def sha256_hex(value: str) -> str:
    """Return the hex SHA-256 of ``value``, for codes and refresh tokens."""
    return hashlib.sha256(value.encode()).hexdigest()


def check_equal(left: str, right: str) -> bool:
    """Compare two strings in time that does not depend on where they differ."""
    return hmac.compare_digest(left.encode(), right.encode())
