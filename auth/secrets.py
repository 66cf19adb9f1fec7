"""Random secrets and ids, keyed digests and constant-time comparison."""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
import threading
import time

# Bytes read from the OS at a time for ids: 256 ids per system call.
_ID_POOL_BYTES = 4096
_ID_BYTES = 16
_id_pools = threading.local()


def generate_token(num_bytes: int = 32) -> str:
    """Return a URL-safe random string carrying ``num_bytes`` of entropy."""
    return secrets.token_urlsafe(num_bytes)


def new_id() -> str:
    """Return 32 random hex digits, such as a request or run id.

    The bytes come from the OS's random source like those of
    :func:`generate_token`, but each thread reads them in blocks, because a
    call per request costs a system call on the hot path.
    """
    pool: bytes = getattr(_id_pools, "pool", b"")
    offset: int = getattr(_id_pools, "offset", _ID_POOL_BYTES)
    if offset + _ID_BYTES > len(pool):
        pool, offset = os.urandom(_ID_POOL_BYTES), 0
        _id_pools.pool = pool
    _id_pools.offset = offset + _ID_BYTES
    return pool[offset : offset + _ID_BYTES].hex()


def new_ordered_id() -> str:
    """Return 32 hex digits that sort by creation time, such as a run id.

    The first 12 digits are the milliseconds since 1970 and the other 20 are
    random (80 bits). Rows keyed by such ids are inserted at the end of their
    index, so a commit touches one index page instead of one per row.
    """
    milliseconds = time.time_ns() // 1_000_000
    return f"{milliseconds:012x}{new_id()[:20]}"


def keyed_digest(key: str, value: str) -> str:
    """Return the hex HMAC-SHA256 of ``value`` under ``key``."""
    return hmac.new(key.encode(), value.encode(), hashlib.sha256).hexdigest()


def sha256_hex(value: str) -> str:
    """Return the hex SHA-256 of ``value``, for codes and refresh tokens."""
    return hashlib.sha256(value.encode()).hexdigest()


def check_equal(left: str, right: str) -> bool:
    """Compare two strings in time that does not depend on where they differ."""
    return hmac.compare_digest(left.encode(), right.encode())
