"""Log output of the server: one line per record, written once per loop turn.

The server writes an access-log line for every request, so the cost of a log
record is paid on the hot path. Records carry no thread or process names,
because the format shows neither and reading them costs a system call. The
timestamp text is built once per second. The lines made during one turn of
the event loop reach the stream in one write.
"""

from __future__ import annotations

import asyncio
import logging
import sys
import threading
import time
from typing import TextIO

LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


class SecondFormatter(logging.Formatter):
    """The server's layout, with the date and time text built once per second."""

    _second: tuple[int, str] = (-1, "")

    def __init__(self) -> None:
        super().__init__(LOG_FORMAT)

    def formatTime(  # noqa: N802 - overrides logging.Formatter
        self, record: logging.LogRecord, datefmt: str | None = None
    ) -> str:
        if datefmt is not None:
            return super().formatTime(record, datefmt)
        return self.format_created(record.created)

    def format_created(self, created: float) -> str:
        """Return the time ``created`` as the layout shows it, with milliseconds."""
        whole = int(created)
        second, text = self._second
        if second != whole:
            text = time.strftime(self.default_time_format, self.converter(whole))
            self._second = (whole, text)
        return f"{text},{int((created - whole) * 1000):03d}"

    def format_fields(self, level: int, name: str, message: str) -> str:
        """Return the line of a record made now, without building the record."""
        when = self.format_created(time.time())
        return f"{when} {logging.getLevelName(level)} {name}: {message}"


class LoopTurnHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """Writes the lines of one event-loop turn to the stream together.

    A line emitted outside the thread running the loop, or when no loop
    runs, is written at once, after the lines still waiting. Lines waiting
    when the process exits are written by :func:`logging.shutdown`.
    """

    def __init__(self, stream: TextIO | None = None) -> None:
        super().__init__(stream)
        self._lines: list[str] = []
        # The loop that will run flush(), and its thread; a loop closed before
        # running it leaves stale values, and the next loop schedules again.
        self._flush_loop: asyncio.AbstractEventLoop | None = None
        self._flush_thread = 0

    def emit(self, record: logging.LogRecord) -> None:
        try:
            line = self.format(record)
        except Exception:
            self.handleError(record)
            return
        self._add(line)

    def emit_line(self, line: str) -> None:
        """Write ``line``, already in the handler's layout, like a record."""
        with self.lock:  # type: ignore[union-attr]
            self._add(line)

    def flush(self) -> None:
        with self.lock:  # type: ignore[union-attr]
            self._flush_loop = None
            self._flush_thread = 0
            self._write()

    def _add(self, line: str) -> None:
        # Called with the handler's lock held.
        self._lines.append(line + self.terminator)
        flush_loop = self._flush_loop
        if (
            flush_loop is not None
            and self._flush_thread == threading.get_ident()
            and flush_loop.is_running()
        ):
            return
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            self._write()
            return
        if self._flush_loop is not loop:
            self._flush_loop = loop
            self._flush_thread = threading.get_ident()
            loop.call_soon(self.flush)

    def _write(self) -> None:
        # Called with the handler's lock held.
        lines, self._lines = self._lines, []
        try:
            if lines:
                self.stream.write("".join(lines))
            self.stream.flush()
        except Exception:
            # The lines are gone; report the failure as logging does.
            self.handleError(logging.makeLogRecord({"msg": "log write failed"}))


class AccessLog:
    """The access log: a line per request, the server's most frequent record.

    While the records of ``logger`` reach no handler but one
    :class:`LoopTurnHandler` with a :class:`SecondFormatter`, and no filter, a
    line is formatted here and handed to that handler: the LogRecord and the
    formatter would cost more than the rest of the line. Otherwise, as under
    a test's log capture, the line goes through logging as a record.
    """

    def __init__(self, logger: logging.Logger) -> None:
        self.logger = logger

    def write(self, level: int, message: str, args: tuple[object, ...]) -> None:
        """Log ``message % args`` at ``level``."""
        logger = self.logger
        if not logger.isEnabledFor(level):
            return
        handler = _sole_handler(logger)
        if (
            isinstance(handler, LoopTurnHandler)
            and isinstance(handler.formatter, SecondFormatter)
            and not handler.filters
            and level >= handler.level
        ):
            line = handler.formatter.format_fields(level, logger.name, message % args)
            handler.emit_line(line)
            return
        record = logger.makeRecord(logger.name, level, "", 0, message, args, None)
        logger.handle(record)


def _sole_handler(logger: logging.Logger) -> logging.Handler | None:
    """Return the one handler that ``logger``'s records reach, if only one."""
    handlers: list[logging.Handler] = []
    current: logging.Logger | None = logger
    while current is not None:
        if current.filters or current.disabled:
            return None
        handlers.extend(current.handlers)
        if not current.propagate:
            break
        current = current.parent
    return handlers[0] if len(handlers) == 1 else None


def configure_logging(level: int | str, serving: bool) -> None:
    """Send log records to standard error; for the server, at loop-turn pace."""
    if not serving:
        logging.basicConfig(level=level, format=LOG_FORMAT)
        return
    logging.logThreads = False
    logging.logProcesses = False
    logging.logMultiprocessing = False
    handler = LoopTurnHandler(sys.stderr)
    handler.setFormatter(SecondFormatter())
    logging.basicConfig(level=level, handlers=[handler])
