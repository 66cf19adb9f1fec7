"""Group commit: rows of concurrent requests committed in one transaction."""

from __future__ import annotations

import asyncio
from typing import Any

import peewee
import pytest

from models.audit import INSERT_EVENT, SUCCESS, event_row
from models.base import utcnow
from models.batch import GroupWriter
from models.runs import INSERT_RUN, SUCCEEDED
from models.users import User
from tests.support import committed_events, committed_runs

# Long enough for a commit, short enough that a hang fails the test quickly.
WRITE_TIMEOUT_SECONDS = 5


def run_row(run_id: str, user: User) -> dict[str, Any]:
    return {
        "run_id": run_id,
        "integration": "echo",
        "user": user.id,
        "username": user.username,
        "auth_method": "basic",
        "client_id": None,
        "status": SUCCEEDED,
        "http_status": 200,
        "started_at": utcnow(),
        "duration_ms": 1.5,
        "error_class": None,
    }


def event_for(request_id: str) -> dict[str, Any]:
    return event_row(
        "integration.execute", SUCCESS, actor="partner-sa", request_id=request_id
    )


async def write(writer: GroupWriter, *statements: Any) -> None:
    await asyncio.wait_for(writer.write(*statements), WRITE_TIMEOUT_SECONDS)


@pytest.mark.gen_test
async def test_rows_committed_when_write_returns(
    db: peewee.Database, database_url: str, service_account: User
) -> None:
    writer = GroupWriter()

    await write(
        writer,
        (INSERT_RUN, run_row("a" * 32, service_account)),
        (INSERT_EVENT, event_for("request-1")),
    )

    assert [run.run_id for run in committed_runs(database_url)] == ["a" * 32]
    assert len(committed_events(database_url, request_id="request-1")) == 1


@pytest.mark.gen_test
async def test_concurrent_writes_all_committed(
    db: peewee.Database, database_url: str, service_account: User
) -> None:
    writer = GroupWriter()

    await asyncio.gather(
        *(
            write(
                writer,
                (INSERT_RUN, run_row(f"{index:032d}", service_account)),
                (INSERT_EVENT, event_for(f"request-{index}")),
            )
            for index in range(20)
        )
    )

    assert len(committed_runs(database_url)) == 20
    assert len(committed_events(database_url, action="integration.execute")) == 20


@pytest.mark.gen_test
async def test_constraint_violation_raises(
    db: peewee.Database, database_url: str, service_account: User
) -> None:
    writer = GroupWriter()
    await write(writer, (INSERT_RUN, run_row("b" * 32, service_account)))

    with pytest.raises(peewee.IntegrityError):
        await write(writer, (INSERT_RUN, run_row("b" * 32, service_account)))

    # The writer and the connection still work afterwards.
    await write(writer, (INSERT_RUN, run_row("c" * 32, service_account)))
    assert len(committed_runs(database_url)) == 2


@pytest.mark.gen_test
async def test_one_bad_request_spares_its_batch(
    db: peewee.Database, database_url: str, service_account: User
) -> None:
    writer = GroupWriter()
    await write(writer, (INSERT_RUN, run_row("d" * 32, service_account)))

    results = await asyncio.gather(
        write(
            writer,
            (INSERT_RUN, run_row("e" * 32, service_account)),
            (INSERT_EVENT, event_for("good-1")),
        ),
        write(
            writer,
            (INSERT_RUN, run_row("d" * 32, service_account)),
            (INSERT_EVENT, event_for("duplicate")),
        ),
        write(writer, (INSERT_EVENT, event_for("good-2"))),
        return_exceptions=True,
    )

    assert results[0] is None
    assert isinstance(results[1], peewee.IntegrityError)
    assert results[2] is None
    run_ids = sorted(run.run_id for run in committed_runs(database_url))
    assert run_ids == ["d" * 32, "e" * 32]
    assert len(committed_events(database_url, request_id="good-1")) == 1
    assert len(committed_events(database_url, request_id="good-2")) == 1
    # The failed request's event rolled back with its run.
    assert committed_events(database_url, request_id="duplicate") == []


async def write_one_turn_apart(
    writer: GroupWriter, first: dict[str, Any], second: dict[str, Any]
) -> None:
    """Start a write, and another one a turn of the event loop later."""
    loop = asyncio.get_running_loop()
    started: list[asyncio.Future[None]] = [
        asyncio.ensure_future(write(writer, (INSERT_EVENT, first)))
    ]
    loop.call_soon(
        lambda: started.append(
            asyncio.ensure_future(write(writer, (INSERT_EVENT, second)))
        )
    )
    await asyncio.sleep(0)
    await asyncio.gather(*started)


@pytest.mark.gen_test
async def test_lone_write_commits_next_turn(
    db: peewee.Database, database_url: str
) -> None:
    writer = GroupWriter()
    await write(writer, (INSERT_EVENT, event_for("alone")))

    await write_one_turn_apart(writer, event_for("first"), event_for("second"))

    # The first write was committed before the second one arrived.
    assert writer.last_batch_size == 1
    assert len(committed_events(database_url, request_id="first")) == 1
    assert len(committed_events(database_url, request_id="second")) == 1


@pytest.mark.gen_test
async def test_busy_writer_waits_one_turn(
    db: peewee.Database, database_url: str
) -> None:
    writer = GroupWriter()
    await asyncio.gather(
        write(writer, (INSERT_EVENT, event_for("busy-1"))),
        write(writer, (INSERT_EVENT, event_for("busy-2"))),
    )
    assert writer.last_batch_size == 2

    await write_one_turn_apart(writer, event_for("first"), event_for("second"))

    # After a commit of two requests, the next one waited a turn for more.
    assert writer.last_batch_size == 2
    assert len(committed_events(database_url, request_id="first")) == 1
    assert len(committed_events(database_url, request_id="second")) == 1
