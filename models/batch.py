"""Group commit of integration runs and their audit events.

Calls that finish in the same turn of the event loop have their run and audit
rows written in one transaction. Each call still waits for that commit before
it answers, so a call the caller saw succeed is on disk; only the cost of the
commit is shared.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from models.audit import INSERT_EVENT
from models.base import DATABASE_ERRORS, database, reset_connection
from models.runs import INSERT_RUN

log = logging.getLogger("integration_gateway.models.batch")


class RunWriter:
    """Collects run and audit rows and commits them together."""

    def __init__(self) -> None:
        self._pending: list[tuple[dict[str, Any], dict[str, Any], asyncio.Future[None]]]
        self._pending = []
        self._scheduled = False

    async def write(self, run: dict[str, Any], event: dict[str, Any]) -> None:
        """Commit ``run`` and ``event``; raise the database error if it fails."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[None] = loop.create_future()
        self._pending.append((run, event, future))
        if not self._scheduled:
            self._scheduled = True
            # Runs after the callbacks already queued, so that calls finishing
            # in this turn of the loop join the same transaction.
            loop.call_soon(self._flush)
        await future

    def _flush(self) -> None:
        self._scheduled = False
        batch, self._pending = self._pending, []
        try:
            with database.atomic():
                INSERT_RUN.execute_many([run for run, _, _ in batch])
                INSERT_EVENT.execute_many([event for _, event, _ in batch])
        except DATABASE_ERRORS as error:
            log.error("writing %d runs failed: %s", len(batch), error)
            reset_connection()
            for _, _, future in batch:
                if not future.done():
                    future.set_exception(error)
            return
        for _, _, future in batch:
            if not future.done():
                future.set_result(None)
