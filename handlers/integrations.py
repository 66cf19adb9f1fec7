"""The partner API: list the integrations a caller may run, and run one."""

from __future__ import annotations

import datetime
import json
import logging
import math
import time
from typing import Any

from auth.principal import Principal
from auth.secrets import new_ordered_id
from handlers.auth_mixin import PrincipalMixin
from handlers.base import ApiError
from handlers.cross_site import check_json_content_type, reject_cross_site
from models.audit import FAILURE, INSERT_EVENT, SUCCESS, event_row
from models.base import utcnow
from models.integration_state import query_disabled_integrations
from models.runs import FAILED, INSERT_RUN, REJECTED, SUCCEEDED, TIMED_OUT
from plugins.base import IntegrationContext, IntegrationError, RunLogger
from plugins.loader import NAME_PATTERN, LoadedIntegration
from plugins.runner import run_integration

log = logging.getLogger("integration_gateway.handlers.integrations")
plugin_log = logging.getLogger("integration_gateway.plugins.run")

EXECUTE_ACTION = "integration.execute"


def _parse_finite(text: str) -> float:
    # A number such as 1e999 overflows to infinity, which is not JSON either.
    value = float(text)
    if math.isinf(value):
        raise ValueError("number out of range")
    return value


def _reject_constant(name: str) -> Any:
    # NaN and Infinity are not JSON (RFC 8259 §6), and a result carrying them
    # back could not be serialized.
    raise ValueError(f"{name} is not valid JSON")


# Built once: json.loads and json.dumps with options build a decoder or an
# encoder on every call.
_PAYLOAD_DECODER = json.JSONDecoder(
    parse_constant=_reject_constant, parse_float=_parse_finite
)
_RESULT_ENCODER = json.JSONEncoder(separators=(",", ":"), allow_nan=False)


class IntegrationListHandler(PrincipalMixin):
    """``GET /integrations``: the integrations the caller may execute."""

    def get(self) -> None:
        items = []
        disabled = query_disabled_integrations()
        for name in self.gateway.registry.names():
            if name in disabled or not self.may_execute(name):
                continue
            integration = self.gateway.registry.loaded[name].integration
            items.append(
                {
                    "name": name,
                    "title": integration.title,
                    "description": integration.description,
                    "version": integration.version,
                }
            )
        self.set_header("Cache-Control", "no-store")
        self.write_json({"integrations": items})


class IntegrationExecuteHandler(PrincipalMixin):
    """``POST /integrations/execute/<name>``: run one integration."""

    def target_integration(self) -> str:
        # Only a loaded integration's name reaches the token query: an unknown
        # name is a 404 anyway, and a NUL in it would fail on PostgreSQL.
        name = str(self.path_args[0]) if self.path_args else ""
        return name if self.gateway.registry.get(name) is not None else ""

    async def prepare(self) -> None:
        reject_cross_site(self.request)
        await super().prepare()

    async def post(self, name: str) -> None:
        if not NAME_PATTERN.fullmatch(name):
            self.record_denied(EXECUTE_ACTION, None, "invalid integration name")
            raise ApiError(404, "not_found", "No integration has this name.")
        loaded = self.gateway.registry.get(name)
        if loaded is None:
            self.record_denied(EXECUTE_ACTION, name, "unknown integration")
            raise ApiError(404, "not_found", "No integration has this name.")
        if not self.may_execute(name):
            self.record_denied(EXECUTE_ACTION, name, "no execute permission")
            raise self.forbidden(name)
        if not self.integration_enabled(name):
            self.record_denied(EXECUTE_ACTION, name, "integration disabled")
            raise ApiError(
                403,
                "integration_disabled",
                "The integration is disabled on this gateway. Ask its operators"
                " to enable it.",
            )
        payload = self._read_payload()
        await self._run(loaded, payload)

    def _read_payload(self) -> Any:
        check_json_content_type(self.request)
        body = self.request.body
        if not body.strip():
            return {}
        try:
            # RFC 8259 §8.1: JSON exchanged between systems is UTF-8, and a
            # byte order mark may be ignored.
            return _PAYLOAD_DECODER.decode(body.decode("utf-8-sig"))
        except (UnicodeDecodeError, ValueError, RecursionError):
            raise ApiError(
                400, "invalid_request", "The request body is not valid JSON."
            ) from None

    async def _run(self, loaded: LoadedIntegration, payload: Any) -> None:
        settings = self.gateway.settings
        principal = self.principal
        run_id = new_ordered_id()
        context = IntegrationContext(
            run_id=run_id,
            principal=principal,
            settings=settings.integrations.get(loaded.name, {}),
            logger=RunLogger(plugin_log, {"run_id": run_id}),
        )
        self.set_header("X-Run-Id", run_id)

        started_at = utcnow()
        started = time.monotonic()
        status, http_status, error_class = SUCCEEDED, 200, None
        body: Any
        try:
            result = await run_integration(
                loaded.integration,
                context,
                payload,
                settings.plugin_timeout_seconds,
                self.gateway.plugin_executor,
            )
            body = _RESULT_ENCODER.encode(result)
        except IntegrationError as error:
            status, http_status = REJECTED, error.status_code
            error_class = type(error).__name__
            body = {"error": error.error, "error_description": error.message}
        except TimeoutError:
            status, http_status, error_class = TIMED_OUT, 504, "TimeoutError"
            body = {"error": "integration_timeout", "run_id": run_id}
        except Exception as error:
            status, http_status = FAILED, 500
            error_class = type(error).__name__
            plugin_log.exception(
                "run %s of %s failed: %s", run_id, loaded.name, error_class
            )
            body = {"error": "integration_failed", "run_id": run_id}
        duration_ms = (time.monotonic() - started) * 1000

        await self._record(
            loaded.name,
            principal,
            run_id,
            status,
            http_status,
            started_at,
            duration_ms,
            error_class,
        )
        if isinstance(body, dict):
            body.setdefault("run_id", run_id)
            self.write_json(body, http_status)
        else:
            self.set_header("Content-Type", "application/json; charset=UTF-8")
            self.finish(body)

    async def _record(
        self,
        name: str,
        principal: Principal,
        run_id: str,
        status: str,
        http_status: int,
        started_at: datetime.datetime,
        duration_ms: float,
        error_class: str | None,
    ) -> None:
        # The run and its audit event are committed before the response is
        # written, so a call the caller saw succeed is never lost.
        run = {
            "run_id": run_id,
            "integration": name,
            "user": principal.user_id,
            "username": principal.username,
            "auth_method": principal.auth_method,
            "client_id": principal.client_id,
            "status": status,
            "http_status": http_status,
            "started_at": started_at,
            "duration_ms": duration_ms,
            "error_class": error_class,
        }
        event = event_row(
            EXECUTE_ACTION,
            SUCCESS if status == SUCCEEDED else FAILURE,
            actor=principal.username,
            auth_method=principal.auth_method,
            client_id=principal.client_id,
            target=name,
            remote_addr=self.remote_addr,
            request_id=self.request_id,
            detail=f"run {run_id}: {status}",
        )
        await self.gateway.writer.write((INSERT_RUN, run), (INSERT_EVENT, event))
        # Successful runs log at DEBUG: the access log already has a line per
        # call, and the run and audit rows hold the details.
        level = logging.DEBUG if status == SUCCEEDED else logging.INFO
        log.log(
            level,
            "run %s of %s by %s (%s, client_id=%s): %s %d in %.1f ms",
            run_id,
            name,
            principal.username,
            principal.auth_method,
            principal.client_id,
            status,
            http_status,
            duration_ms,
        )
