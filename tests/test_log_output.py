"""The server's log output: loop-turn writes and the access log's direct lines."""

from __future__ import annotations

import asyncio
import io
import logging
import re
import threading
from collections.abc import Iterator

import pytest

from handlers.log_output import (
    LOG_FORMAT,
    AccessLog,
    LoopTurnHandler,
    SecondFormatter,
)

LINE = re.compile(
    r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} (INFO|WARNING) test\.access: (.*)$"
)


class CountingStream(io.StringIO):
    """A stream that counts its write calls."""

    def __init__(self) -> None:
        super().__init__()
        self.writes = 0

    def write(self, text: str) -> int:
        self.writes += 1
        return super().write(text)


class BrokenStream(io.StringIO):
    def write(self, text: str) -> int:
        raise OSError("disk full")


@pytest.fixture
def stream() -> CountingStream:
    return CountingStream()


@pytest.fixture
def access_logger(stream: CountingStream) -> Iterator[logging.Logger]:
    """A logger whose records reach only a LoopTurnHandler writing to ``stream``."""
    logger = logging.getLogger("test.access")
    handler = LoopTurnHandler(stream)
    handler.setFormatter(SecondFormatter())
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    logger.propagate = False
    yield logger
    logger.removeHandler(handler)
    logger.propagate = True


def test_second_formatter_matches_standard_layout() -> None:
    record = logging.makeLogRecord(
        {"name": "a.b", "levelno": 20, "levelname": "INFO", "msg": "x %d", "args": (3,)}
    )
    record.created = 1_800_000_000.25
    record.msecs = 250.0

    expected = logging.Formatter(LOG_FORMAT).format(record)
    assert SecondFormatter().format(record) == expected
    # The cached second is reused for the next record of the same second.
    record.created, record.msecs = 1_800_000_000.75, 750.0
    assert SecondFormatter().format(record) == logging.Formatter(LOG_FORMAT).format(
        record
    )


def test_lines_of_one_loop_turn_are_written_together(
    access_logger: logging.Logger, stream: CountingStream
) -> None:
    async def log_three() -> str:
        for number in range(3):
            access_logger.info("line %d", number)
        written_during_turn = stream.getvalue()
        await asyncio.sleep(0)
        await asyncio.sleep(0)
        return written_during_turn

    written_during_turn = asyncio.run(log_three())

    assert written_during_turn == ""
    lines = stream.getvalue().splitlines()
    assert [LINE.match(line).group(2) for line in lines] == [  # type: ignore[union-attr]
        "line 0",
        "line 1",
        "line 2",
    ]
    assert stream.writes == 1


def test_line_outside_a_loop_is_written_at_once(
    access_logger: logging.Logger, stream: CountingStream
) -> None:
    access_logger.warning("no loop here")

    assert LINE.match(stream.getvalue().strip()).group(2) == "no loop here"  # type: ignore[union-attr]


def test_other_thread_line_flushes_waiting_lines(
    access_logger: logging.Logger, stream: CountingStream
) -> None:
    async def log_from_both() -> str:
        access_logger.info("from the loop")
        thread = threading.Thread(target=access_logger.info, args=("from a thread",))
        thread.start()
        thread.join()
        return stream.getvalue()

    written = asyncio.run(log_from_both())

    assert [LINE.match(line).group(2) for line in written.splitlines()] == [  # type: ignore[union-attr]
        "from the loop",
        "from a thread",
    ]


def test_loop_closed_before_flush_does_not_hold_lines(
    access_logger: logging.Logger, stream: CountingStream
) -> None:
    loop = asyncio.new_event_loop()
    # The loop stops before it runs the flush it scheduled.
    loop.run_until_complete(_log_and_return(access_logger, "first"))
    loop.close()

    asyncio.run(_log_then_yield(access_logger, "second"))

    messages = [LINE.match(line).group(2) for line in stream.getvalue().splitlines()]  # type: ignore[union-attr]
    assert messages == ["first", "second"]


async def _log_and_return(logger: logging.Logger, message: str) -> None:
    logger.info(message)


async def _log_then_yield(logger: logging.Logger, message: str) -> None:
    logger.info(message)
    await asyncio.sleep(0)


def test_access_log_direct_line_matches_a_record_line(
    access_logger: logging.Logger, stream: CountingStream
) -> None:
    AccessLog(access_logger).write(
        logging.WARNING, "%d %s request_id=%s", (404, "GET", "abc")
    )
    access_logger.warning("%d %s request_id=%s", 404, "GET", "abc")

    direct, through_record = stream.getvalue().splitlines()
    assert LINE.match(direct).groups() == LINE.match(through_record).groups()  # type: ignore[union-attr]


def test_access_log_respects_logger_and_handler_levels(
    access_logger: logging.Logger, stream: CountingStream
) -> None:
    access_log = AccessLog(access_logger)
    access_logger.setLevel(logging.WARNING)
    access_log.write(logging.INFO, "quiet %d", (1,))
    access_logger.setLevel(logging.INFO)
    access_logger.handlers[0].setLevel(logging.ERROR)
    access_log.write(logging.WARNING, "quiet %d", (2,))

    assert stream.getvalue() == ""


def test_access_log_records_for_other_handlers(
    access_logger: logging.Logger,
    stream: CountingStream,
    caplog: pytest.LogCaptureFixture,
) -> None:
    access_logger.propagate = True
    with caplog.at_level(logging.INFO, logger="test.access"):
        AccessLog(access_logger).write(logging.INFO, "seen %s", ("by both",))

    assert {record.getMessage() for record in caplog.records} == {"seen by both"}
    assert "seen by both" in stream.getvalue()


def test_write_failure_is_reported_not_raised(
    capsys: pytest.CaptureFixture[str],
) -> None:
    handler = LoopTurnHandler(BrokenStream())
    handler.setFormatter(SecondFormatter())
    logger = logging.getLogger("test.broken")
    logger.addHandler(handler)
    logger.propagate = False
    try:
        logger.warning("lost")
    finally:
        logger.removeHandler(handler)

    assert "log write failed" in capsys.readouterr().err
