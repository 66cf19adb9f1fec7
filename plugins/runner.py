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
    if inspect.iscoroutinefunction(run):
        result = await asyncio.wait_for(run(context, payload), timeout_seconds)
    else:
        loop = asyncio.get_running_loop()
        future = loop.run_in_executor(executor, run, context, payload)
        result = await asyncio.wait_for(future, timeout_seconds)
    if inspect.isawaitable(result):
        result = await asyncio.wait_for(result, timeout_seconds)
    return result
