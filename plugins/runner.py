"""Running one integration call with a time limit."""

from __future__ import annotations

import asyncio
import inspect
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
    run = integration.run
    # asyncio.timeout runs the coroutine in the calling task, which is cheaper
    # than wait_for's extra task on this hot path.
    async with asyncio.timeout(timeout_seconds):
        if inspect.iscoroutinefunction(run):
            result = await run(context, payload)
        else:
            loop = asyncio.get_running_loop()
            result = await loop.run_in_executor(executor, run, context, payload)
        if inspect.isawaitable(result):
            result = await result
    return result
