"""Integrations that the plugin tests load through entry points.

Each class exercises one rule of the loader or the runner: a failure, a
timeout, a plugin error, a plain function in the thread pool, or a class the
loader must reject.
"""

from __future__ import annotations

import asyncio
import importlib.metadata
import threading
import time
from typing import Any

from plugins.base import Integration, IntegrationContext, IntegrationError
from plugins.loader import ENTRY_POINT_GROUP, IntegrationRegistry, load_integrations

#: Message of the exception that ``FailingIntegration`` raises; it must reach
#: the log and never the caller.
FAILURE_MESSAGE = "upstream rejected account 4711"


def entry_point(name: str, class_name: str) -> importlib.metadata.EntryPoint:
    """Return an entry point in the gateway's group for a class of this module."""
    return importlib.metadata.EntryPoint(
        name=name, value=f"{__name__}:{class_name}", group=ENTRY_POINT_GROUP
    )


class GreetIntegration(Integration):
    name = "greet"
    title = "Greet"
    description = "Greets the caller."
    version = "2.0.1"

    async def run(self, context: IntegrationContext, payload: Any) -> dict[str, Any]:
        return {"greeting": f"hello {context.principal.username}"}


class FailingIntegration(Integration):
    name = "failing"
    title = "Failing"

    async def run(self, context: IntegrationContext, payload: Any) -> Any:
        raise RuntimeError(FAILURE_MESSAGE)


class SlowIntegration(Integration):
    name = "slow"
    title = "Slow coroutine"

    async def run(self, context: IntegrationContext, payload: Any) -> Any:
        await asyncio.sleep(float(payload.get("seconds", 5)))
        return {"slept": True}


class SlowThreadIntegration(Integration):
    name = "slow-thread"
    title = "Slow plain function"

    def run(self, context: IntegrationContext, payload: Any) -> Any:
        time.sleep(float(payload.get("seconds", 5)))
        return {"slept": True}


class RejectingIntegration(Integration):
    name = "rejecting"
    title = "Rejecting"

    async def run(self, context: IntegrationContext, payload: Any) -> Any:
        raise IntegrationError(
            "Invoice 17 is already paid.", status_code=409, error="invoice_paid"
        )


class ThreadIntegration(Integration):
    """A plain function: reports the thread it ran on, and its context."""

    name = "thread-info"
    title = "Thread info"

    def run(self, context: IntegrationContext, payload: Any) -> dict[str, Any]:
        context.logger.info("thread-info ran")
        return {
            "thread": threading.current_thread().name,
            "run_id": context.run_id,
            "settings": dict(context.settings),
            "principal": context.principal.to_dict(),
        }


class UnserializableIntegration(Integration):
    name = "unserializable"
    title = "Returns a set"

    async def run(self, context: IntegrationContext, payload: Any) -> Any:
        return {"values": {1, 2}}


class SecondEchoIntegration(Integration):
    """Claims the built-in ``echo`` name."""

    name = "echo"
    title = "Impostor"

    async def run(self, context: IntegrationContext, payload: Any) -> Any:
        return {"impostor": True}


class GreetAgainIntegration(Integration):
    """Claims the ``greet`` name of another plugin."""

    name = "greet"
    title = "Greet again"

    async def run(self, context: IntegrationContext, payload: Any) -> Any:
        return {"again": True}


class BadNameIntegration(Integration):
    name = "Bad_Name"
    title = "Bad name"

    async def run(self, context: IntegrationContext, payload: Any) -> Any:
        return {}


class NoRunIntegration(Integration):
    name = "no-run"
    title = "No run"


class BrokenConstructorIntegration(Integration):
    name = "broken-constructor"
    title = "Broken constructor"

    def __init__(self) -> None:
        raise OSError("settings file missing")

    async def run(self, context: IntegrationContext, payload: Any) -> Any:
        return {}


class NotAnIntegration:
    name = "not-an-integration"

    def run(self, context: IntegrationContext, payload: Any) -> Any:
        return {}


WORKING = [
    entry_point("greet", "GreetIntegration"),
    entry_point("failing", "FailingIntegration"),
    entry_point("slow", "SlowIntegration"),
    entry_point("slow-thread", "SlowThreadIntegration"),
    entry_point("rejecting", "RejectingIntegration"),
    entry_point("thread-info", "ThreadIntegration"),
    entry_point("unserializable", "UnserializableIntegration"),
]

BROKEN = [
    entry_point("second-echo", "SecondEchoIntegration"),
    entry_point("greet-again", "GreetAgainIntegration"),
    entry_point("bad-name", "BadNameIntegration"),
    entry_point("no-run", "NoRunIntegration"),
    entry_point("broken-constructor", "BrokenConstructorIntegration"),
    entry_point("not-an-integration", "NotAnIntegration"),
    importlib.metadata.EntryPoint(
        name="missing",
        value="tests.no_such_module:Integration",
        group=ENTRY_POINT_GROUP,
    ),
    importlib.metadata.EntryPoint(
        name="missing-attribute",
        value=f"{__name__}:NoSuchClass",
        group=ENTRY_POINT_GROUP,
    ),
]


def load_with_builtins(
    extra: list[importlib.metadata.EntryPoint],
) -> IntegrationRegistry:
    """Load the installed integrations plus ``extra`` into one registry."""
    installed = list(importlib.metadata.entry_points(group=ENTRY_POINT_GROUP))
    return load_integrations([*installed, *extra])
