"""Peewee queries compiled to SQL once and then run with new parameters.

Building a query through the ORM costs more than running it on SQLite, so the
queries of an authenticated integration call are built once per database and
kept as SQL text. Parameters are named markers made by :func:`param`.
"""

from __future__ import annotations

import datetime
from collections.abc import Callable
from typing import Any, TypeVar

import peewee

from models.base import BaseModel, database

_MARKER = "\x00"

Model = TypeVar("Model", bound=BaseModel)


def param(name: str) -> str:
    """Return the marker that stands for parameter ``name`` in a query."""
    return _MARKER + name


class PreparedQuery:
    """A query built by ``build`` and compiled once per connected database."""

    def __init__(self, build: Callable[[], peewee.Query]) -> None:
        self.build = build
        self._compiled: tuple[type, str, list[Any]] | None = None
        # Each parameter as (name of its marker, None) or (None, constant).
        self._params: list[tuple[str | None, Any]] = []

    def _compile(self) -> str:
        # The SQL depends only on the dialect, so it is kept per database class.
        key = type(database.obj)
        if self._compiled is None or self._compiled[0] != key:
            sql, params = self.build().sql()
            self._params = [
                (value[1:], None)
                if isinstance(value, str) and value.startswith(_MARKER)
                else (None, value)
                for value in params
            ]
            self._compiled = (key, sql, params)
        return self._compiled[1]

    def _bind(self, values: dict[str, Any]) -> list[Any]:
        return [
            constant if name is None else values[name]
            for name, constant in self._params
        ]

    def execute(self, **values: Any) -> Any:
        """Run the query with ``values`` for its markers; return the cursor."""
        sql = self._compile()
        return database.execute_sql(sql, self._bind(values))

    def execute_many(self, rows: list[dict[str, Any]]) -> None:
        """Run the query once per mapping in ``rows``, in one database call."""
        sql = self._compile()
        # Translate driver errors into peewee's classes, as execute_sql does,
        # so that callers can tell a lost connection from a broken constraint.
        with peewee.__exception_wrapper__:  # type: ignore[attr-defined]
            cursor = database.cursor()
            cursor.executemany(sql, [self._bind(values) for values in rows])

    def first(self, **values: Any) -> tuple[Any, ...] | None:
        """Run the query and return its first row, or None."""
        row: tuple[Any, ...] | None = self.execute(**values).fetchone()
        return row


def build_instance(
    model: type[Model], fields: list[peewee.Field], values: tuple[Any, ...]
) -> Model:
    """Make a ``model`` instance from raw column values of ``fields``."""
    data = {
        field.name: python_value(field, value)
        for field, value in zip(fields, values, strict=True)
    }
    # Setting the values one by one through the model's field descriptors
    # would mark each one as changed, so they go into its data at once.
    instance = model(__no_default__=True)
    instance.__data__.update(data)
    return instance


def python_value(field: peewee.Field, value: Any) -> Any:
    """Convert a raw column value as ``field`` would, parsing dates quickly.

    SQLite returns dates as ISO 8601 text; ``fromisoformat`` reads that far
    faster than the ``strptime`` formats peewee tries in turn.
    """
    if isinstance(field, peewee.DateTimeField) and isinstance(value, str):
        try:
            return datetime.datetime.fromisoformat(value)
        except ValueError:
            pass
    return field.python_value(value)
