"""The replacements of Tornado's header-line parser and Date formatting.

Each replacement must give the result of Tornado's original for every input,
errors included: the tests run both on the same inputs and compare.
"""

from __future__ import annotations

import datetime
import itertools
import random
import time
from typing import Any

import pytest
import tornado
from tornado import httputil
from tornado.httputil import HTTPHeaders

from handlers import tornado_fast_paths
from handlers.tornado_fast_paths import (
    ORIGINAL_FORMAT_TIMESTAMP,
    ORIGINAL_PARSE_LINE,
    SecondClock,
    parse_line,
)

# Pieces of header lines: names, separators, values and line endings, with
# the characters that Tornado treats specially.
NAMES = ["Host", "X-Token", "", " Host", "\tHost", "Bad Name", "Ñame", "A\x00"]
SEPARATORS = [":", ": ", ":\t", " :", "", "::"]
VALUES = [
    "",
    "value",
    "Bearer " + "a" * 500,
    "two words",
    " padded\t",
    "caf\xe9",
    "\u20ac",
    "a\rb",
    "a\x00b",
    "a\x7fb",
    "a\nb",
    "a:b",
]
ENDINGS = ["", "\n", "\r\n", "\r", "\r\r\n", "\n\n", "\r\n\r\n", " \r\n"]

# Characters drawn for the random lines.
ALPHABET = "aZ09:- \t\r\n\x00\x7f\xe9\u20ac"


def outcome(parse: Any, line: str, chars_are_bytes: bool) -> tuple[str, Any]:
    """Return the headers ``parse`` adds for ``line``, or the error it raises."""
    headers = HTTPHeaders()
    try:
        parse(headers, line, _chars_are_bytes=chars_are_bytes)
    except Exception as error:  # noqa: BLE001 - the error is the result here
        return ("error", (type(error), str(error)))
    return ("headers", sorted(headers.get_all()))


def built_lines() -> list[str]:
    return [
        name + separator + value + ending
        for name, separator, value, ending in itertools.product(
            NAMES, SEPARATORS, VALUES, ENDINGS
        )
    ]


def random_lines(count: int) -> list[str]:
    generator = random.Random(20261204)
    return [
        "".join(generator.choices(ALPHABET, k=generator.randint(0, 12)))
        for _ in range(count)
    ]


@pytest.mark.parametrize("chars_are_bytes", [True, False])
def test_parse_line_matches_tornado(chars_are_bytes: bool) -> None:
    lines = built_lines() + random_lines(20000)

    mismatches = [
        line
        for line in lines
        if outcome(parse_line, line, chars_are_bytes)
        != outcome(ORIGINAL_PARSE_LINE, line, chars_are_bytes)
    ]

    assert mismatches == []


def test_parse_line_takes_fast_path() -> None:
    headers = HTTPHeaders()

    parse_line(headers, "Authorization: Bearer abc \r\n")

    assert headers["Authorization"] == "Bearer abc"


def test_parse_line_repeated_header() -> None:
    headers = HTTPHeaders()

    parse_line(headers, "Accept: a\r\n")
    parse_line(headers, "Accept: b\r\n")

    assert headers.get_list("Accept") == ["a", "b"]


def timestamps() -> list[Any]:
    generator = random.Random(4)
    now = time.time()
    values: list[Any] = [0, 1, 0.0, 1359312200, 1359312200.5, now, int(now)]
    for second in (0, 1359312200, int(now)):
        values += [second + 0.9999994, second + 0.9999995, second + 0.9999996]
        values += [second + 0.999999, second + 1e-7, second - 1e-7]
    values += [now + generator.uniform(0, 5) for _ in range(2000)]
    values += [-1, -0.5, float("nan"), float("inf"), -float("inf"), 1e20, True]
    values += [(2013, 1, 27, 18, 43, 20, 6, 27, 0), time.gmtime(1359312200)]
    values += [datetime.datetime(2013, 1, 27, 18, 43, 20), "1359312200", None]
    return values


def format_outcome(format_function: Any, value: Any) -> tuple[str, Any]:
    try:
        return ("text", format_function(value))
    except Exception as error:  # noqa: BLE001 - the error is the result here
        return ("error", type(error))


def test_second_clock_matches_tornado() -> None:
    clock = SecondClock()

    mismatches = [
        value
        for value in timestamps()
        if format_outcome(clock.format, value)
        != format_outcome(ORIGINAL_FORMAT_TIMESTAMP, value)
    ]

    assert mismatches == []


def test_second_clock_reuses_text() -> None:
    clock = SecondClock()

    first = clock.format(1359312200.25)
    second = clock.format(1359312200.75)

    assert first == "Sun, 27 Jan 2013 18:43:20 GMT"
    assert second is first
    assert clock.format(1359312201.0) == "Sun, 27 Jan 2013 18:43:21 GMT"


@pytest.fixture
def originals(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    """Start from Tornado's own functions and put back the ones in place after."""
    monkeypatch.setattr(HTTPHeaders, "parse_line", ORIGINAL_PARSE_LINE)
    monkeypatch.setattr(httputil, "format_timestamp", ORIGINAL_FORMAT_TIMESTAMP)
    return monkeypatch


def test_install_on_checked_version(originals: pytest.MonkeyPatch) -> None:
    originals.setattr(tornado, "version", "6.6.1")

    assert tornado_fast_paths.install() is True

    assert HTTPHeaders.parse_line is parse_line
    assert httputil.format_timestamp is tornado_fast_paths.format_timestamp
    parsed = HTTPHeaders.parse("Host: example\r\nX-Token: Bearer abc\r\n")
    assert parsed["X-Token"] == "Bearer abc"


def test_install_skips_unchecked_version(originals: pytest.MonkeyPatch) -> None:
    originals.setattr(tornado, "version", "6.7.0")

    assert tornado_fast_paths.install() is False

    assert HTTPHeaders.parse_line is ORIGINAL_PARSE_LINE
    assert httputil.format_timestamp is ORIGINAL_FORMAT_TIMESTAMP
