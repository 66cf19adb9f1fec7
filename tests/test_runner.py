"""The plugin runner: results, errors and the time limit, with and without waiting."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import pytest

from auth.principal import Principal
from plugins.base import Integration, IntegrationContext, IntegrationError
from plugins.runner import run_integration

CONTEXT = IntegrationContext(
    run_id="r" * 32,
    principal=Principal(
        user_id=1, username="partner-sa", kind="service_account", auth_method="basic"
    ),
    settings={},
    logger=logging.LoggerAdapter(logging.getLogger("test.runner"), {}),
)


class Recorder(Integration):
    """Runs the steps it is given and records how it ended."""

    name = "recorder"

    def __init__(self, waits: int, sleep_seconds: float = 0.0) -> None:
        self.waits = waits
        self.sleep_seconds = sleep_seconds
        self.ended: list[str] = []

    async def run(self, context: IntegrationContext, payload: Any) -> Any:
        try:
            for _ in range(self.waits):
                await asyncio.sleep(self.sleep_seconds)
            if payload == "reject":
                raise IntegrationError("nope", status_code=409)
            return {"payload": payload, "waits": self.waits}
        except asyncio.CancelledError:
            self.ended.append("cancelled")
            raise
        finally:
            self.ended.append("finished")


def run(plugin: Integration, payload: Any, timeout: float = 5.0) -> Any:
    return asyncio.run(run_integration(plugin, CONTEXT, payload, timeout, None))


@pytest.mark.parametrize("waits", [0, 1, 3])
def test_result_with_and_without_waiting(waits: int) -> None:
    plugin = Recorder(waits)

    assert run(plugin, {"a": 1}) == {"payload": {"a": 1}, "waits": waits}
    assert plugin.ended == ["finished"]


@pytest.mark.parametrize("waits", [0, 2])
def test_error_with_and_without_waiting(waits: int) -> None:
    with pytest.raises(IntegrationError):
        run(Recorder(waits), "reject")


def test_waiting_plugin_cancelled_at_the_limit() -> None:
    plugin = Recorder(waits=1, sleep_seconds=5.0)

    with pytest.raises(TimeoutError):
        run(plugin, {}, timeout=0.05)
    assert plugin.ended == ["cancelled", "finished"]


def test_waiting_plugin_gets_results_of_what_it_awaits() -> None:
    class Waiter(Integration):
        name = "waiter"

        async def run(self, context: IntegrationContext, payload: Any) -> Any:
            loop = asyncio.get_running_loop()
            future = loop.create_future()
            loop.call_later(0.01, future.set_result, 41)
            return await future + 1

    assert run(Waiter(), None) == 42


def test_caller_cancellation_reaches_the_plugin() -> None:
    plugin = Recorder(waits=1, sleep_seconds=5.0)

    async def cancel_soon() -> None:
        task = asyncio.ensure_future(run_integration(plugin, CONTEXT, {}, 30.0, None))
        await asyncio.sleep(0.01)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    asyncio.run(cancel_soon())

    assert plugin.ended == ["cancelled", "finished"]
