"""Group commit: rows of concurrent requests written in one transaction.

Requests that finish in the same turn of the event loop have their rows (an
integration run and its audit event, an issued token and its audit event)
written together. Each request still waits for that commit before it responds,
so what a caller saw succeed is on disk; only the cost of the commit is shared.

When the previous commit carried more than one request, the load is
concurrent, and the commit waits one more turn of the loop. Requests whose
data arrived in the meantime then join it, so fewer and larger commits share
the cost. A lone request is committed in the next turn, without that wait.
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
        #: Number of requests in the last commit.
        self.last_batch_size = 0

    async def write(self, *statements: Statement) -> None:
        """Commit ``statements``; raise the database error if the commit fails."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[None] = loop.create_future()
        self._pending.append((statements, future))
        if not self._scheduled:
            self._scheduled = True
            # Runs after the callbacks already queued, so that requests
            # finishing in this turn of the loop join the same transaction.
            if self.last_batch_size > 1:
                loop.call_soon(loop.call_soon, self._flush)
            else:
                loop.call_soon(self._flush)
        await future

    def _flush(self) -> None:
        self._scheduled = False
        batch, self._pending = self._pending, []
        self.last_batch_size = len(batch)
        try:
            _commit([statements for statements, _ in batch])
        except DATABASE_ERRORS as error:
            # The connection failed, so every request of the batch fails.
            log.error("group commit of %d requests failed: %s", len(batch), error)
            reset_connection()
            for _, future in batch:
                _settle(future, error)
            return
        except Exception as error:
            # Rows of one request broke a constraint or were rejected by the
            # driver, and the whole transaction rolled back. Each request is
            # committed alone, so that only the one at fault fails.
            if len(batch) > 1:
                log.warning(
                    "group commit of %d requests failed, committing each alone: %s",
                    len(batch),
                    error,
                )
                for statements, future in batch:
                    _commit_alone(statements, future)
                return
            log.error("commit of a request failed: %s", error)
            _settle(batch[0][1], error)
            return
        for _, future in batch:
            _settle(future, None)


def _commit(batch: list[tuple[Statement, ...]]) -> None:
    # One executemany per query, in the order the queries first appear.
    grouped: dict[PreparedQuery, list[dict[str, Any]]] = {}
    for statements in batch:
        for query, row in statements:
            grouped.setdefault(query, []).append(row)

    def insert_all() -> None:
        for query, rows in grouped.items():
            query.execute_many(rows)

    # Runs again, on a new connection, when PostgreSQL dropped the connection
    # before COMMIT was sent. A connection lost during COMMIT raises.
    database.run_transaction(insert_all)


def _commit_alone(
    statements: tuple[Statement, ...], future: asyncio.Future[None]
) -> None:
    try:
        _commit([statements])
    except Exception as error:
        log.error("commit of a request failed: %s", error)
        if isinstance(error, DATABASE_ERRORS):
            reset_connection()
        _settle(future, error)
        return
    _settle(future, None)


def _settle(future: asyncio.Future[None], error: Exception | None) -> None:
    # A request that was cancelled, by a closed connection, has no waiter.
    if future.done():
        return
    if error is None:
        future.set_result(None)
    else:
        future.set_exception(error)
