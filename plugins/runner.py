"""Running one integration call with a time limit."""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Coroutine, Generator
from concurrent.futures import Executor
from typing import Any

from plugins.base import Integration, IntegrationContext


async def run_integration(
    integration: Integration,
    context: IntegrationContext,
    payload: Any,
    timeout_seconds: float,
    executor: Executor | None,
) -> Any:
    """Run ``integration`` and return its result; raise TimeoutError past the limit.

    A coroutine ``run`` is cancelled at the limit. A plain ``run`` executes in
    ``executor``; Python cannot stop a thread, so after the limit it finishes
    in the background and its result is discarded.
    """
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_seconds
    run = integration.run
    if inspect.iscoroutinefunction(run):
        coroutine = run(context, payload)
        # Most plugins finish without waiting for anything. Their first step
        # runs here, and only a plugin that waits gets a timer.
        try:
            waiting_for = coroutine.send(None)
        except StopIteration as finished:
            result = finished.value
        else:
            async with asyncio.timeout_at(deadline):
                result = await _Resumed(coroutine, waiting_for)
    else:
        async with asyncio.timeout_at(deadline):
            result = await loop.run_in_executor(executor, run, context, payload)
    if inspect.isawaitable(result):
        async with asyncio.timeout_at(deadline):
            result = await result
    return result


class _Resumed:
    """Awaits the rest of a coroutine whose first step already ran.

    Passes what the coroutine waits for up to the task and what the task
    sends or throws back down, as ``await`` does from the start.
    """

    def __init__(self, coroutine: Coroutine[Any, Any, Any], waiting_for: Any) -> None:
        self.coroutine = coroutine
        self.waiting_for = waiting_for

    def __await__(self) -> Generator[Any, Any, Any]:
        waiting_for = self.waiting_for
        while True:
            try:
                sent = yield waiting_for
            except GeneratorExit:
                self.coroutine.close()
                raise
            except BaseException as error:  # noqa: BLE001 - the coroutine decides
                try:
                    waiting_for = self.coroutine.throw(error)
                except StopIteration as finished:
                    return finished.value
            else:
                try:
                    waiting_for = self.coroutine.send(sent)
                except StopIteration as finished:
                    return finished.value
