"""Pages of query results for the admin console.

Counting stops after ``MAX_COUNTED_ROWS`` and pages past that many rows are
not read, so that neither the count nor the OFFSET of a deep page makes a
request read more rows than that, however many match.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

import peewee

PER_PAGE = 50
MAX_COUNTED_ROWS = 10_000


@dataclasses.dataclass(frozen=True)
class Page:
    items: list[Any]
    #: 1-based number of this page.
    number: int
    per_page: int
    #: Rows matching the query on every page together, at most ``MAX_COUNTED_ROWS``.
    total: int
    #: Whether more rows match than were counted.
    total_capped: bool = False

    @property
    def has_previous(self) -> bool:
        return self.number > 1

    @property
    def has_next(self) -> bool:
        return self.number * self.per_page < self.total

    @property
    def last_number(self) -> int:
        return max(1, -(-self.total // self.per_page))


def fetch_page(query: peewee.SelectBase, number: int, per_page: int = PER_PAGE) -> Page:
    """Run ``query`` for page ``number``; a number past the end gives no items."""
    return build_page(
        lambda limit: int(query.limit(limit).count()),
        lambda limit, offset: list(query.limit(limit).offset(offset)),
        number,
        per_page,
    )


def build_page(
    count: Callable[[int], int],
    fetch: Callable[[int, int], list[Any]],
    number: int,
    per_page: int = PER_PAGE,
) -> Page:
    """Build page ``number`` from ``count(limit)`` and ``fetch(limit, offset)``."""
    number = max(1, number)
    total = count(MAX_COUNTED_ROWS + 1)
    capped = total > MAX_COUNTED_ROWS
    total = min(total, MAX_COUNTED_ROWS)
    offset = (number - 1) * per_page
    items = fetch(per_page, offset) if offset < total else []
    return Page(
        items=items, number=number, per_page=per_page, total=total, total_capped=capped
    )
