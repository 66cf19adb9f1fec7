"""Faster paths through two Tornado helpers that run on every request.

Tornado 6.6.1 looks for the end of each request header line with
``re.search(r"\\r?\\n$", line)``, which tries a match at every position of the
line. A bearer token makes its line about 500 characters long, and the search
then takes about 6 µs per request (timeit on the benchmark machine). Tornado
also formats the Date header of every response from the clock, although the
text changes once a second.

:func:`install` replaces both functions with versions that return the same
results:

- A header line that ends in CRLF, contains no other line feed, has a colon and
  starts with no whitespace is split by string methods. Its name and value go to
  Tornado's own ``HTTPHeaders.add``, which validates them as before. Every other
  line goes to Tornado's original method, so every error is still raised by
  Tornado itself.
- The Date text of the current second is kept and reused within that second.

Both replacements are installed only for the Tornado versions in
:data:`CHECKED_VERSIONS`, whose originals they were compared with (see
tests/test_tornado_fast_paths.py). Another version keeps Tornado's own
functions, so an upgrade can make the server slower but never changes what it
accepts.
"""

from __future__ import annotations

import datetime
import logging
import math
import time
from typing import Any

import tornado
from tornado import httputil
from tornado.httputil import HTTPHeaders

log = logging.getLogger("integration_gateway.handlers.tornado_fast_paths")

#: Tornado versions whose ``HTTPHeaders.parse_line`` and ``format_timestamp``
#: the replacements were compared with.
CHECKED_VERSIONS = frozenset({"6.6.1"})

ORIGINAL_PARSE_LINE = HTTPHeaders.parse_line
ORIGINAL_FORMAT_TIMESTAMP = httputil.format_timestamp

# The whitespace Tornado strips around a header value and rejects at the
# start of a line (obsolete line folding).
_HEADER_WHITESPACE = " \t"

# Fractions of a second up to this one stay in their second when rounded to
# microseconds.
_LAST_SAFE_FRACTION = 0.999999

Timestamp = int | float | tuple[Any, ...] | time.struct_time | datetime.datetime


def parse_line(self: HTTPHeaders, line: str, *, _chars_are_bytes: bool = True) -> None:
    """Add the header on ``line`` to ``self``, as Tornado's ``parse_line`` does."""
    if line.endswith("\r\n") and line.find("\n", 0, len(line) - 2) == -1:
        content = line[:-2]
        if content and content[0] not in _HEADER_WHITESPACE and ":" in content:
            name, value = content.split(":", 1)
            self.add(
                name,
                value.strip(_HEADER_WHITESPACE),
                _chars_are_bytes=_chars_are_bytes,
            )
            return
    ORIGINAL_PARSE_LINE(self, line, _chars_are_bytes=_chars_are_bytes)


class SecondClock:
    """Formats timestamps for HTTP and reuses the text of the latest second."""

    def __init__(self) -> None:
        # One tuple, replaced whole, so that a reader in another thread never
        # pairs a second with the text of another.
        self.latest = (-1, "")

    def format(self, timestamp: Timestamp) -> str:
        """Return the HTTP date of ``timestamp``, as Tornado's function does."""
        # Tuples, datetimes and bools go to the original, and so do values
        # that it rejects.
        if isinstance(timestamp, bool) or not isinstance(timestamp, (int, float)):
            return ORIGINAL_FORMAT_TIMESTAMP(timestamp)
        if not (math.isfinite(timestamp) and timestamp >= 0):
            return ORIGINAL_FORMAT_TIMESTAMP(timestamp)
        second = int(timestamp)
        # The original rounds to microseconds first, which carries a time
        # within half a microsecond of the next second into that second.
        if timestamp - second > _LAST_SAFE_FRACTION:
            return ORIGINAL_FORMAT_TIMESTAMP(timestamp)
        cached_second, text = self.latest
        if second != cached_second:
            text = ORIGINAL_FORMAT_TIMESTAMP(second)
            self.latest = (second, text)
        return text


_CLOCK = SecondClock()


def format_timestamp(ts: Timestamp) -> str:
    """Return the HTTP date of ``ts``, a parameter named as in Tornado."""
    return _CLOCK.format(ts)


def install() -> bool:
    """Install the replacements, or return False for an unchecked Tornado version."""
    if tornado.version not in CHECKED_VERSIONS:
        log.info(
            "Tornado %s is not among the checked versions %s, so its header"
            " parsing and Date formatting are used unchanged",
            tornado.version,
            ", ".join(sorted(CHECKED_VERSIONS)),
        )
        return False
    HTTPHeaders.parse_line = parse_line  # type: ignore[method-assign]
    httputil.format_timestamp = format_timestamp
    return True
