"""Handler base classes: request ids, security headers and JSON errors."""

from __future__ import annotations

import json
import logging
from typing import Any

import tornado.web

from auth.errors import OAuthError
from auth.log_text import MAX_LOG_DETAIL_LENGTH, clip_for_log
from auth.secrets import new_id
from handlers.gateway import Gateway
from models.base import DATABASE_ERRORS, reset_connection

log = logging.getLogger("integration_gateway.handlers")

# Sent with every response; pages add a Content-Security-Policy of their own.
SECURITY_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
}

# Built once: json.dumps with options builds an encoder on every call.
JSON_ENCODER = json.JSONEncoder(separators=(",", ":"))


class ApiError(tornado.web.HTTPError):
    """An error sent as ``{"error": ..., "error_description": ...}``.

    ``log_detail`` goes to the server log only; ``description`` goes to the
    client and must be fixed text, never request input.
    """

    def __init__(
        self,
        status_code: int,
        error: str,
        description: str,
        *,
        headers: dict[str, str | list[str]] | None = None,
        log_detail: str = "",
        extra: dict[str, Any] | None = None,
    ) -> None:
        log_message = clip_for_log(log_detail, MAX_LOG_DETAIL_LENGTH)
        super().__init__(status_code, log_message or None)
        self.error = error
        self.description = description
        self.headers = headers or {}
        self.extra = extra or {}


class BaseHandler(tornado.web.RequestHandler):
    """Base of every handler: request id, security headers, error bodies."""

    request_id: str

    @property
    def gateway(self) -> Gateway:
        return self.application.settings["gateway"]  # type: ignore[no-any-return]

    def set_default_headers(self) -> None:
        # Tornado calls this again before an error response; keep the same id.
        if "request_id" not in self.__dict__:
            self.request_id = new_id()
        self.set_header("X-Request-Id", self.request_id)
        for name, value in SECURITY_HEADERS.items():
            self.set_header(name, value)
        # Tornado's Server header names its version, so a scanner could look
        # up the advisories that apply.
        self.clear_header("Server")

    def check_xsrf_cookie(self) -> None:
        # A handler that does not implement this method returns 405, which is
        # more useful than the 403 of a missing xsrf token, and runs nothing.
        method = self.request.method.lower() if self.request.method else ""
        if getattr(type(self), method, None) is getattr(
            tornado.web.RequestHandler, method, None
        ):
            return
        super().check_xsrf_cookie()

    @property
    def remote_addr(self) -> str:
        return self.request.remote_ip or ""

    def write_json(self, body: Any, status_code: int = 200) -> None:
        self.set_status(status_code)
        self.set_header("Content-Type", "application/json; charset=UTF-8")
        self.finish(JSON_ENCODER.encode(body))

    def decode_argument(self, value: bytes, name: str | None = None) -> str:
        # Tornado's own message quotes the first bytes of the value, which may
        # be a password; this one names only the argument.
        try:
            return value.decode("utf-8")
        except UnicodeDecodeError:
            label = (name or "in the path")[:40]
            raise tornado.web.HTTPError(
                400, f"argument {label} is not valid UTF-8"
            ) from None

    def log_exception(self, typ: Any, value: Any, tb: Any) -> None:
        if isinstance(value, tornado.web.HTTPError):
            if value.log_message:
                # A flood of wrong credentials would repeat this line for
                # every request; the access log and the audit trail have it.
                level = logging.DEBUG if value.status_code == 401 else logging.INFO
                log.log(
                    level,
                    "%s %s answered %d: %s request_id=%s",
                    self.request.method,
                    clip_for_log(self.request.path),
                    value.status_code,
                    value.log_message,
                    self.request_id,
                )
            return
        if isinstance(value, DATABASE_ERRORS):
            log.error(
                "database error on %s %s request_id=%s: %s",
                self.request.method,
                clip_for_log(self.request.path),
                self.request_id,
                value,
            )
            reset_connection()
            return
        log.error(
            "unhandled error on %s %s request_id=%s",
            self.request.method,
            clip_for_log(self.request.path),
            self.request_id,
            exc_info=(typ, value, tb),
        )

    def write_error(self, status_code: int, **kwargs: Any) -> None:
        error_value = kwargs.get("exc_info", (None, None, None))[1]
        body: dict[str, Any]
        if isinstance(error_value, ApiError):
            for name, value in error_value.headers.items():
                values = value if isinstance(value, list) else [value]
                for item in values:
                    self.add_header(name, item)
            body = {"error": error_value.error}
            body["error_description"] = error_value.description
            body.update(error_value.extra)
        elif isinstance(error_value, OAuthError):
            self.set_status(error_value.status_code)
            body = error_value.to_dict()
        elif isinstance(error_value, DATABASE_ERRORS):
            self.set_status(503)
            self.set_header("Retry-After", "5")
            body = {
                "error": "temporarily_unavailable",
                "error_description": "The database is not reachable.",
            }
        else:
            body = {
                "error": _error_code(status_code),
                "error_description": self._reason,
            }
        body["request_id"] = self.request_id
        self.set_header("Content-Type", "application/json; charset=UTF-8")
        self.set_header("Cache-Control", "no-store")
        self.finish(JSON_ENCODER.encode(body))


def _error_code(status_code: int) -> str:
    codes = {
        400: "invalid_request",
        401: "unauthorized",
        403: "forbidden",
        404: "not_found",
        405: "method_not_allowed",
        413: "content_too_large",
        429: "too_many_requests",
        503: "temporarily_unavailable",
    }
    return codes.get(status_code, "server_error")


class NotFoundHandler(BaseHandler):
    """The JSON 404 for every unknown path."""

    def prepare(self) -> None:
        raise ApiError(404, "not_found", "No resource at this path.")
