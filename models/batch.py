"""Group commit: rows of concurrent requests written in one transaction.

Requests that finish in the same turn of the event loop have their rows (an
integration run and its audit event, an issued token and its audit event)
written together. Each request still waits for that commit before it answers,
so what a caller saw succeed is on disk; only the cost of the commit is shared.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from models.base import DATABASE_ERRORS, database, reset_connection
from models.prepared import PreparedQuery

log = logging.getLogger("integration_gateway.models.batch")

Statement = tuple[PreparedQuery, dict[str, Any]]


class GroupWriter:
    """Collects insert statements and commits them together."""

    def __init__(self) -> None:
        self._pending: list[tuple[tuple[Statement, ...], asyncio.Future[None]]] = []
        self._scheduled = False

    async def write(self, *statements: Statement) -> None:
        """Commit ``statements``; raise the database error if the commit fails."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[None] = loop.create_future()
        self._pending.append((statements, future))
        if not self._scheduled:
            self._scheduled = True
            # Runs after the callbacks already queued, so that requests
            # finishing in this turn of the loop join the same transaction.
            loop.call_soon(self._flush)
        await future

    def _flush(self) -> None:
        self._scheduled = False
        batch, self._pending = self._pending, []
        # One executemany per query, in the order the queries first appear.
        grouped: dict[PreparedQuery, list[dict[str, Any]]] = {}
        for statements, _ in batch:
            for query, row in statements:
                grouped.setdefault(query, []).append(row)
        try:
            with database.atomic():
                for query, rows in grouped.items():
                    query.execute_many(rows)
        except DATABASE_ERRORS as error:
            log.error("group commit of %d requests failed: %s", len(batch), error)
            reset_connection()
            for _, future in batch:
                if not future.done():
                    future.set_exception(error)
            return
        for _, future in batch:
            if not future.done():
                future.set_result(None)
