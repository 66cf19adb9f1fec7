"""413 Content Too Large (RFC 9110 §15.5.14) for bodies over ``max_body_bytes``.

Tornado's own limit, the ``max_body_size`` of its HTTPServer, ends an oversized
request with a bare 400 that has no body. :class:`BodyLimitApplication` checks
the declared Content-Length when it routes a request, before Tornado reads the
body, and counts a chunked body while it arrives. The client gets a 413 with
the gateway's error body and ``Connection: close``, and the connection closes
without the rest of the body being read.
"""

from __future__ import annotations

import asyncio
import re
import socket
import sys
from collections.abc import Awaitable, Callable
from typing import Any

import tornado.iostream
import tornado.web
from tornado.http1connection import HTTP1Connection
from tornado.httputil import (
    HTTPConnection,
    HTTPHeaders,
    HTTPInputError,
    HTTPMessageDelegate,
    HTTPServerRequest,
    RequestStartLine,
    ResponseStartLine,
)

from handlers.web import NegotiatedErrorHandler, PageError

#: The socket of a rejected request is shut down for writing (FIN) once the
#: response is written, and closed this much later. Closing it at once, with
#: body bytes unread, makes the kernel send a reset, which can destroy the
#: response before the client reads it (RFC 9112 §9.6). The value is an
#: estimate of a client's round trip, not a measurement.
CLOSE_DELAY_SECONDS = 0.5

#: Tornado's body limit for a connection while this module counts its chunked
#: body. Tornado compares the declared size of each chunk with its limit before
#: it reads the chunk, so it would send its bare 400 before the count here
#: exceeds ``max_body_bytes``.
UNCHECKED_BODY_SIZE = sys.maxsize

CONTENT_TOO_LARGE_REASON = "Content Too Large"

# Tornado accepts a Content-Length repeated with equal values, joined by commas.
_LENGTH_SEPARATOR = re.compile(r",[ \t]*")


def content_length_exceeds(value: str, limit: int) -> bool:
    """Return whether the Content-Length ``value`` declares more than ``limit``.

    A value that Tornado rejects as malformed (a sign, a space, unequal
    repeats) returns False, and Tornado then responds with a 400.
    """
    if "," in value:
        pieces = set(_LENGTH_SEPARATOR.split(value))
        if len(pieces) != 1:
            return False
        value = pieces.pop()
    if not (value.isascii() and value.isdigit()):
        return False
    digits = value.lstrip("0")
    # Checked before int(), which rejects strings of more than 4300 digits.
    if len(digits) > len(str(limit)):
        return True
    return int(digits or "0") > limit


class BodyLimitApplication(tornado.web.Application):
    """The gateway's Tornado application, which sends 413 for oversized bodies."""

    def __init__(
        self,
        handlers: list[Any],
        *,
        max_body_bytes: int,
        **settings: Any,
    ) -> None:
        super().__init__(handlers, **settings)
        self.max_body_bytes = max_body_bytes
        # A Content-Length of fewer digits is within the limit, whatever they are.
        self._limit_digits = len(str(max_body_bytes))

    # Application annotates this method with its private _HandlerDelegate for
    # its legacy __call__, which HTTPServer does not use. The Router interface
    # that HTTPServer calls accepts any HTTPMessageDelegate.
    def find_handler(  # type: ignore[override]
        self, request: HTTPServerRequest, **kwargs: Any
    ) -> HTTPMessageDelegate:
        headers = request.headers
        declared = headers.get("Content-Length")
        if declared is not None:
            if len(declared) >= self._limit_digits and content_length_exceeds(
                declared, self.max_body_bytes
            ):
                return self._reject_declared_length(request, declared)
        elif "Transfer-Encoding" in headers:
            delegate = super().find_handler(request, **kwargs)
            return ChunkedBodyLimit(self, request, delegate)
        return super().find_handler(request, **kwargs)

    def _reject_declared_length(
        self, request: HTTPServerRequest, declared: str
    ) -> HTTPMessageDelegate:
        connection = _http1_connection(request)
        request.connection = ClosingConnection(connection, detach=True)
        log_detail = (
            f"declared Content-Length {declared} exceeds max_body_bytes"
            f" {self.max_body_bytes}"
        )
        return self.content_too_large_delegate(request, log_detail)

    def content_too_large_delegate(
        self, request: HTTPServerRequest, log_detail: str
    ) -> HTTPMessageDelegate:
        """Return the delegate that runs :class:`ContentTooLargeHandler`."""
        return self.get_handler_delegate(
            request,
            ContentTooLargeHandler,
            {"max_body_bytes": self.max_body_bytes, "log_detail": log_detail},
        )


@tornado.web.stream_request_body
class ContentTooLargeHandler(NegotiatedErrorHandler):
    """The handler of a request whose body exceeds ``max_body_bytes``: a 413.

    Tornado runs a streaming handler's ``prepare`` as soon as the headers are
    read, so the response goes out before any of the body is read. The
    request's connection is a :class:`ClosingConnection`.
    """

    def initialize(self, max_body_bytes: int, log_detail: str) -> None:
        self.max_body_bytes = max_body_bytes
        self.log_detail = log_detail

    def prepare(self) -> None:
        error = PageError(
            413,
            "content_too_large",
            f"The request body exceeds the maximum size of {self.max_body_bytes}"
            " bytes.",
            log_detail=self.log_detail,
        )
        error.reason = CONTENT_TOO_LARGE_REASON
        raise error

    def write_error(self, status_code: int, **kwargs: Any) -> None:
        # Also on the 405 that Tornado sends for a method no handler supports.
        self.set_header("Connection", "close")
        super().write_error(status_code, **kwargs)


class ChunkedBodyLimit(HTTPMessageDelegate):
    """A delegate that passes a chunked request on until its body exceeds the limit.

    Tornado hands over the body in pieces of at most its ``chunk_size``. The
    piece that crosses the limit is not passed on, so the request's handler
    never buffers more than ``max_body_bytes``.
    """

    #: Set by headers_received, which Tornado calls first.
    start_line: RequestStartLine | ResponseStartLine
    headers: HTTPHeaders

    def __init__(
        self,
        application: BodyLimitApplication,
        request: HTTPServerRequest,
        delegate: HTTPMessageDelegate,
    ) -> None:
        self.application = application
        self.request = request
        self.delegate = delegate
        self.received_bytes = 0
        self.rejected = False

    def headers_received(
        self, start_line: RequestStartLine | ResponseStartLine, headers: HTTPHeaders
    ) -> Awaitable[None] | None:
        self.start_line = start_line
        self.headers = headers
        _http1_connection(self.request).set_max_body_size(UNCHECKED_BODY_SIZE)
        return self.delegate.headers_received(start_line, headers)

    def data_received(self, chunk: bytes) -> Awaitable[None] | None:
        if self.rejected:
            return None
        self.received_bytes += len(chunk)
        if self.received_bytes <= self.application.max_body_bytes:
            return self.delegate.data_received(chunk)
        self.rejected = True
        # The handler that was to get the body learns that it never will, and
        # drops what it has buffered.
        self.delegate.on_connection_close()
        return self._reject()

    async def _reject(self) -> None:
        # Tornado reads no further while it waits for this coroutine, which
        # returns after the socket is closed.
        connection = ClosingConnection(_http1_connection(self.request), detach=False)
        self.request.connection = connection
        log_detail = (
            f"chunked body exceeds max_body_bytes {self.application.max_body_bytes}"
        )
        handler = self.application.content_too_large_delegate(self.request, log_detail)
        prepared = handler.headers_received(self.start_line, self.headers)
        if prepared is not None:
            await prepared
        await connection.closed

    def finish(self) -> None:
        if self.rejected:
            # The rest of the body was in Tornado's read buffer already. The
            # error makes Tornado end the connection instead of reading a next
            # request from that buffer. Tornado logs the message at INFO as a
            # malformed HTTP message, and its 400 is not sent, because the
            # socket is closed.
            raise HTTPInputError("chunked body over max_body_bytes, 413 sent")
        self.delegate.finish()

    def on_connection_close(self) -> None:
        if not self.rejected:
            self.delegate.on_connection_close()


class ClosingConnection(HTTPConnection):
    """The connection of a rejected request: writes the response, then closes.

    ``HTTP1Connection.finish`` would close the socket as soon as the response
    is written, because the body is unread. This class sends FIN after the
    response instead, and closes the socket :data:`CLOSE_DELAY_SECONDS` later.
    With ``detach``, it takes the stream from Tornado, which then reads nothing
    more from it. Tornado allows that only while it waits for
    ``headers_received``.
    """

    def __init__(self, connection: HTTP1Connection, *, detach: bool) -> None:
        self.connection = connection
        self.detach = detach
        #: Resolves when the socket is closed.
        self.closed: asyncio.Future[None] = asyncio.get_running_loop().create_future()

    def write_headers(
        self,
        start_line: RequestStartLine | ResponseStartLine,
        headers: HTTPHeaders,
        chunk: bytes | None = None,
    ) -> asyncio.Future[None]:
        return self.connection.write_headers(start_line, headers, chunk)

    def write(self, chunk: bytes) -> asyncio.Future[None]:
        return self.connection.write(chunk)

    def set_close_callback(self, callback: Callable[[], None] | None) -> None:
        self.connection.set_close_callback(callback)

    def finish(self) -> None:
        if self.detach:
            stream = self.connection.detach()
        else:
            stream = self.connection.stream
        close_after_response(stream, self.closed)


def close_after_response(
    stream: tornado.iostream.IOStream, closed: asyncio.Future[None]
) -> None:
    """Send FIN once the response is written, then close ``stream`` after a delay."""

    def close() -> None:
        stream.close()
        if not closed.done():
            closed.set_result(None)

    def shut_down_writing(flushed: asyncio.Future[None]) -> None:
        # The client may have closed the connection in the meantime.
        if flushed.cancelled() or flushed.exception() is not None or stream.closed():
            close()
            return
        try:
            stream.socket.shutdown(socket.SHUT_WR)
        except OSError:
            close()
            return
        asyncio.get_running_loop().call_later(CLOSE_DELAY_SECONDS, close)

    try:
        # An empty write resolves once everything written before it is sent.
        flushed = stream.write(b"")
    except tornado.iostream.StreamClosedError:
        close()
        return
    flushed.add_done_callback(shut_down_writing)


def _http1_connection(request: HTTPServerRequest) -> HTTP1Connection:
    connection = request.connection
    if not isinstance(connection, HTTP1Connection):
        raise TypeError(f"expected an HTTP1Connection, got {type(connection)}")
    return connection
