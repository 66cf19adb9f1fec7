"""The public plugin API: the base class, the run context and the error class.

An integration is a subclass of :class:`Integration` registered as an entry
point in the ``integration_gateway.integrations`` group::

    [project.entry-points."integration_gateway.integrations"]
    invoice-lookup = "my_package.invoices:InvoiceLookup"
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Awaitable, Mapping
from typing import Any, ClassVar

from auth.principal import Principal

__all__ = ["Integration", "IntegrationContext", "IntegrationError", "Principal"]


class IntegrationError(Exception):
    """Raised by a plugin to send the caller a 4xx status and a message.

    The message is sent to the caller as it is, so it must not contain secrets.
    """

    def __init__(
        self, message: str, status_code: int = 400, error: str = "integration_error"
    ) -> None:
        if not 400 <= status_code <= 499:
            raise ValueError(f"status_code must be a 4xx status, got {status_code}")
        super().__init__(message)
        self.message = message
        self.status_code = status_code
        self.error = error


class RunLogger(logging.LoggerAdapter):  # type: ignore[type-arg]
    """A logger that prefixes every message with the run id."""

    def process(self, msg: Any, kwargs: Any) -> tuple[Any, Any]:
        return f"run {self.extra['run_id']}: {msg}", kwargs  # type: ignore[index]


@dataclasses.dataclass(frozen=True)
class IntegrationContext:
    """The run id, caller, settings and logger a plugin receives for one call."""

    #: Unique id of this run, also returned to the caller in ``X-Run-Id``.
    run_id: str
    #: The caller: username, kind, auth method, client id and scopes.
    principal: Principal
    #: The ``[integrations.NAME]`` table of the configuration file.
    settings: Mapping[str, Any]
    #: A logger whose messages carry the run id.
    logger: logging.LoggerAdapter  # type: ignore[type-arg]


class Integration:
    """Base class of every integration plugin.

    Subclasses set ``name`` (the URL slug: lower-case letters, digits and
    hyphens), ``title``, ``description`` and ``version``, and implement
    :meth:`run`. ``run`` may be a coroutine function, which runs on the event
    loop and must not block it, or a plain function, which runs in a thread.
    """

    name: ClassVar[str] = ""
    title: ClassVar[str] = ""
    description: ClassVar[str] = ""
    version: ClassVar[str] = "0.0.0"

    def run(self, context: IntegrationContext, payload: Any) -> Any | Awaitable[Any]:
        """Handle one call; return a JSON-serializable result."""
        raise NotImplementedError
