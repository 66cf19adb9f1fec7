"""Pages of query results for the admin console."""

from __future__ import annotations

import dataclasses
from typing import Any

import peewee

PER_PAGE = 50


@dataclasses.dataclass(frozen=True)
class Page:
    items: list[Any]
    #: 1-based number of this page.
    number: int
    per_page: int
    #: Rows matching the query on every page together.
    total: int

    @property
    def has_previous(self) -> bool:
        return self.number > 1

    @property
    def has_next(self) -> bool:
        return self.number * self.per_page < self.total

    @property
    def last_number(self) -> int:
        return max(1, -(-self.total // self.per_page))


def fetch_page(query: peewee.Select, number: int, per_page: int = PER_PAGE) -> Page:
    """Run ``query`` for page ``number``; a number past the end gives no items."""
    number = max(1, number)
    total = query.count()
    items = list(query.paginate(number, per_page))
    return Page(items=items, number=number, per_page=per_page, total=total)
