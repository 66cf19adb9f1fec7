"""The ``next`` parameter of the login page: only a path on this gateway.

Anything a browser could resolve to another origin is replaced by the default
path: absolute URLs, other schemes, ``//host``, backslashes (browsers read
``/\\host`` as ``//host``), and white space or control characters (browsers
drop tabs and newlines from URLs, so ``/\\t/host`` becomes ``//host``).
"""

from __future__ import annotations

import urllib.parse

# The authorization endpoint sends no login query longer than this, so its
# login URL stays under Tornado's default 64 KiB limit on the request line and
# headers (HTTP1ConnectionParameters.max_header_size) with room for the rest.
MAX_NEXT_LENGTH = 48 * 1024


def sanitize_next_path(value: str | None, default: str) -> str:
    """Return ``value`` when it is a path on this gateway, otherwise ``default``."""
    if not value or len(value) > MAX_NEXT_LENGTH:
        return default
    if not value.startswith("/") or value.startswith("//"):
        return default
    if any(not "\x21" <= char <= "\x7e" for char in value) or "\\" in value:
        return default
    parsed = urllib.parse.urlsplit(value)
    if parsed.scheme or parsed.netloc:
        return default
    return value
