"""Reconnecting after PostgreSQL dropped the connection, and what runs again.

The PostgreSQL tests end the connection the way a restart or an idle timeout
does: ``pg_terminate_backend`` from another connection, or a trigger that
terminates its own connection in the middle of a transaction or at COMMIT.
"""

from __future__ import annotations

import asyncio
import logging
import urllib.parse
from typing import Any

import peewee
import pytest
from playhouse import db_url

import models
from auth.user_auth import touch_last_used
from models.audit import INSERT_EVENT
from models.base import database
from models.batch import GroupWriter
from models.reconnect import (
    DATABASE_ERRORS,
    AmbiguousCommitError,
    check_read,
    check_statement_rerun,
    describe_error,
)
from models.runs import INSERT_RUN
from models.users import User
from tests.conftest import _admin_connection
from tests.support import committed_events, committed_runs
from tests.test_group_writer import event_for, run_row

PG_ONLY = pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
RECONNECT_LOGGER = "integration_gateway.models.reconnect"
WRITE_TIMEOUT_SECONDS = 10

# A trigger function that terminates its own connection the first time it
# runs. The sequence counts its runs and, unlike a table, is not rolled back
# with the transaction that the termination ends.
CREATE_KILL_ONCE = (
    "CREATE SEQUENCE kill_once_calls",
    """
    CREATE FUNCTION kill_once() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        IF nextval('kill_once_calls') = 1 THEN
            PERFORM pg_terminate_backend(pg_backend_pid());
            PERFORM pg_sleep(10);
        END IF;
        RETURN NULL;
    END $$
    """,
)
# Fires on each inserted audit event, inside the statement that inserts it.
KILL_AT_INSERT = (
    "CREATE TRIGGER audit_event_kill_once AFTER INSERT ON audit_event"
    " FOR EACH ROW EXECUTE FUNCTION kill_once()"
)
# Fires when the transaction commits, so the connection dies during COMMIT.
KILL_AT_COMMIT = (
    "CREATE CONSTRAINT TRIGGER audit_event_kill_once AFTER INSERT ON audit_event"
    " DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION kill_once()"
)
# Fires when a tracked write raises the change counter, just before COMMIT.
KILL_AT_COUNTER = (
    "CREATE TRIGGER change_counter_kill_once AFTER UPDATE ON change_counter"
    " FOR EACH ROW EXECUTE FUNCTION kill_once()"
)
TRIGGER_CALLS = (
    "SELECT CASE WHEN is_called THEN last_value ELSE 0 END FROM kill_once_calls"
)


def run_separately(url: str, sql: str, params: tuple[Any, ...] = ()) -> Any:
    """Run ``sql`` on a connection of its own; return the first column of row one."""
    other = db_url.connect(url)
    other.connect()
    try:
        cursor = other.execute_sql(sql, params)
        row = cursor.fetchone() if cursor.description else None
    finally:
        other.close()
    return row[0] if row else None


def terminate_backends(url: str) -> int:
    """Terminate every connection to the database of ``url``; return how many."""
    name = urllib.parse.urlsplit(url).path.strip("/")
    admin = _admin_connection(url)
    admin.connect()
    try:
        rows = admin.execute_sql(
            "SELECT pg_terminate_backend(pid, 5000) FROM pg_stat_activity"
            " WHERE datname = %s AND pid <> pg_backend_pid()",
            (name,),
        ).fetchall()
    finally:
        admin.close()
    return sum(1 for (terminated,) in rows if terminated)


def install_kill_once(url: str, trigger: str) -> None:
    for sql in (*CREATE_KILL_ONCE, trigger):
        run_separately(url, sql)


def backend_pid() -> int:
    return int(database.execute_sql("SELECT pg_backend_pid()").fetchone()[0])


def reconnect_messages(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [
        record.getMessage()
        for record in caplog.records
        if record.name == RECONNECT_LOGGER
    ]


def committed_vendor(database_url: str, user: User) -> Any:
    """Return the vendor of ``user`` as a connection of its own reads it."""
    return run_separately(
        database_url, 'SELECT vendor FROM "user" WHERE id = %s', (user.id,)
    )


@pytest.fixture
def reconnect_log(caplog: pytest.LogCaptureFixture) -> pytest.LogCaptureFixture:
    caplog.set_level(logging.INFO, logger="integration_gateway")
    return caplog


@pytest.mark.parametrize(
    ("sql", "error", "in_transaction", "expected"),
    [
        ("SELECT 1", peewee.OperationalError(), False, True),
        ('  select "value" FROM t', peewee.OperationalError(), False, True),
        ("SELECT 1", peewee.OperationalError(), True, False),
        ("INSERT INTO t VALUES (1)", peewee.OperationalError(), False, False),
        ("UPDATE t SET a = 1", peewee.OperationalError(), True, False),
        ("INSERT INTO t VALUES (1)", peewee.InterfaceError(), False, True),
        ("INSERT INTO t VALUES (1)", peewee.InterfaceError(), True, False),
        ("WITH x AS (DELETE FROM t) SELECT 1", peewee.OperationalError(), False, False),
    ],
)
def test_statement_rerun_decision(
    sql: str, error: Exception, in_transaction: bool, expected: bool
) -> None:
    assert check_statement_rerun(sql, error, in_transaction) is expected


def test_read_judged_by_first_keyword() -> None:
    assert check_read("SELECT 1")
    assert check_read("\n select 1")
    assert not check_read("DELETE FROM t")
    assert not check_read("")


def test_error_described_in_one_line() -> None:
    error = peewee.OperationalError(
        "server closed the connection unexpectedly\n\tThis probably means ...\n"
    )

    assert describe_error(error) == "server closed the connection unexpectedly"
    assert describe_error(peewee.InterfaceError()) == "InterfaceError"


@PG_ONLY
def test_read_after_dropped_connection(
    db: peewee.Database, database_url: str, reconnect_log: pytest.LogCaptureFixture
) -> None:
    old_pid = backend_pid()
    assert terminate_backends(database_url) == 1

    new_pid = backend_pid()

    assert new_pid != old_pid
    messages = reconnect_messages(reconnect_log)
    assert len(messages) == 1
    assert "run the read again" in messages[0]
    assert "\n" not in messages[0]


@PG_ONLY
def test_transaction_after_dropped_connection(
    db: peewee.Database,
    database_url: str,
    service_account: User,
    reconnect_log: pytest.LogCaptureFixture,
) -> None:
    backend_pid()
    assert terminate_backends(database_url) == 1

    # A tracked write runs in a transaction of its own; its BEGIN fails first.
    User.update(vendor="Acme").where(User.id == service_account.id).execute()

    assert committed_vendor(database_url, service_account) == "Acme"
    messages = reconnect_messages(reconnect_log)
    assert len(messages) == 1
    assert "run the BEGIN again" in messages[0]


@PG_ONLY
def test_tracked_write_lost_at_counter_rerun(
    db: peewee.Database,
    database_url: str,
    service_account: User,
    reconnect_log: pytest.LogCaptureFixture,
) -> None:
    # The counter row is raised after peewee has closed its record of the
    # transaction and before COMMIT, so the transaction is still safe to rerun.
    install_kill_once(database_url, KILL_AT_COUNTER)

    User.update(vendor="Acme").where(User.id == service_account.id).execute()

    assert run_separately(database_url, TRIGGER_CALLS) == 2
    assert committed_vendor(database_url, service_account) == "Acme"
    messages = reconnect_messages(reconnect_log)
    assert len(messages) == 1
    assert "run the transaction again" in messages[0]


@PG_ONLY
def test_last_use_write_after_dropped_connection(
    db: peewee.Database,
    database_url: str,
    service_account: User,
    reconnect_log: pytest.LogCaptureFixture,
) -> None:
    backend_pid()
    assert terminate_backends(database_url) == 1

    # A remembered credential or token leaves this write as the first
    # statement of a call.
    touch_last_used(service_account.id, None)

    last_used_at = run_separately(
        database_url,
        'SELECT last_used_at FROM "user" WHERE id = %s',
        (service_account.id,),
    )
    assert last_used_at is not None
    messages = reconnect_messages(reconnect_log)
    assert len(messages) == 1
    assert "run the BEGIN again" in messages[0]


@PG_ONLY
def test_write_outside_transaction_not_rerun(
    db: peewee.Database, database_url: str, reconnect_log: pytest.LogCaptureFixture
) -> None:
    backend_pid()
    assert terminate_backends(database_url) == 1

    # The statement commits by itself, so a failure while it runs is ambiguous.
    with pytest.raises(peewee.OperationalError):
        INSERT_EVENT.execute(**event_for("autocommit-write"))

    assert committed_events(database_url, request_id="autocommit-write") == []
    assert reconnect_messages(reconnect_log) == []
    # The broken connection was dropped, so the next statement connects anew.
    backend_pid()
    assert reconnect_messages(reconnect_log) == []


@PG_ONLY
def test_transaction_lost_before_commit_rerun(
    db: peewee.Database, database_url: str, reconnect_log: pytest.LogCaptureFixture
) -> None:
    attempts = []

    def insert_two_events() -> None:
        attempts.append(backend_pid())
        INSERT_EVENT.execute(**event_for("first-of-two"))
        if len(attempts) == 1:
            assert terminate_backends(database_url) == 1
        INSERT_EVENT.execute(**event_for("second-of-two"))

    database.run_transaction(insert_two_events)

    assert len(attempts) == 2
    assert attempts[0] != attempts[1]
    assert len(committed_events(database_url, request_id="first-of-two")) == 1
    assert len(committed_events(database_url, request_id="second-of-two")) == 1
    messages = reconnect_messages(reconnect_log)
    assert len(messages) == 1
    assert "run the transaction again" in messages[0]


@PG_ONLY
def test_transaction_lost_during_commit_not_rerun(
    db: peewee.Database, database_url: str, reconnect_log: pytest.LogCaptureFixture
) -> None:
    install_kill_once(database_url, KILL_AT_COMMIT)
    attempts = []

    def insert_event() -> None:
        attempts.append(1)
        INSERT_EVENT.execute(**event_for("lost-commit"))

    with pytest.raises(AmbiguousCommitError) as raised:
        database.run_transaction(insert_event)

    assert isinstance(raised.value, peewee.OperationalError)
    assert "\n" not in str(raised.value)
    assert len(attempts) == 1
    assert run_separately(database_url, TRIGGER_CALLS) == 1
    assert committed_events(database_url, request_id="lost-commit") == []
    assert reconnect_messages(reconnect_log) == []
    # The next transaction gets a new connection without a reconnect.
    database.run_transaction(insert_event)
    assert len(committed_events(database_url, request_id="lost-commit")) == 1
    assert reconnect_messages(reconnect_log) == []


@PG_ONLY
def test_nested_transaction_not_rerun(
    db: peewee.Database, database_url: str, reconnect_log: pytest.LogCaptureFixture
) -> None:
    attempts = []

    def insert_event() -> None:
        attempts.append(1)
        assert terminate_backends(database_url) == 1
        INSERT_EVENT.execute(**event_for("nested"))

    # Only the owner of the outermost transaction may run it again.
    with pytest.raises(DATABASE_ERRORS):
        with database.atomic():
            database.run_transaction(insert_event)

    assert len(attempts) == 1
    assert committed_events(database_url, request_id="nested") == []
    assert reconnect_messages(reconnect_log) == []


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_sqlite_locked_not_rerun(db: peewee.Database) -> None:
    attempts = []

    def locked() -> None:
        attempts.append(1)
        raise peewee.OperationalError("database is locked")

    with pytest.raises(peewee.OperationalError):
        database.run_transaction(locked)

    assert len(attempts) == 1


@PG_ONLY
@pytest.mark.gen_test
async def test_group_commit_rerun_before_commit(
    db: peewee.Database,
    database_url: str,
    service_account: User,
    reconnect_log: pytest.LogCaptureFixture,
) -> None:
    install_kill_once(database_url, KILL_AT_INSERT)
    writer = GroupWriter()

    await asyncio.wait_for(
        writer.write(
            (INSERT_RUN, run_row("f" * 32, service_account)),
            (INSERT_EVENT, event_for("group-rerun")),
        ),
        WRITE_TIMEOUT_SECONDS,
    )

    # The first attempt died in the trigger and the second committed, once.
    assert run_separately(database_url, TRIGGER_CALLS) == 2
    assert [run.run_id for run in committed_runs(database_url)] == ["f" * 32]
    assert len(committed_events(database_url, request_id="group-rerun")) == 1
    messages = reconnect_messages(reconnect_log)
    assert len(messages) == 1
    assert "run the transaction again" in messages[0]


@PG_ONLY
@pytest.mark.gen_test
async def test_group_commit_lost_commit_fails(
    db: peewee.Database,
    database_url: str,
    service_account: User,
    reconnect_log: pytest.LogCaptureFixture,
) -> None:
    install_kill_once(database_url, KILL_AT_COMMIT)
    writer = GroupWriter()

    with pytest.raises(AmbiguousCommitError):
        await asyncio.wait_for(
            writer.write(
                (INSERT_RUN, run_row("a" * 32, service_account)),
                (INSERT_EVENT, event_for("group-lost-commit")),
            ),
            WRITE_TIMEOUT_SECONDS,
        )

    assert run_separately(database_url, TRIGGER_CALLS) == 1
    assert committed_runs(database_url) == []
    assert committed_events(database_url, request_id="group-lost-commit") == []
    failures = [
        record.getMessage()
        for record in reconnect_log.records
        if record.name == "integration_gateway.models.batch"
    ]
    assert len(failures) == 1
    assert failures[0].startswith("group commit of 1 requests failed: connection lost")
    assert reconnect_messages(reconnect_log) == []

    # The writer works on a new connection afterwards.
    await asyncio.wait_for(
        writer.write((INSERT_RUN, run_row("b" * 32, service_account))),
        WRITE_TIMEOUT_SECONDS,
    )
    assert [run.run_id for run in committed_runs(database_url)] == ["b" * 32]


@PG_ONLY
def test_healthz_query_reconnects_once(
    db: peewee.Database, database_url: str, reconnect_log: pytest.LogCaptureFixture
) -> None:
    backend_pid()
    assert terminate_backends(database_url) == 1

    assert models.check_database()

    assert len(reconnect_messages(reconnect_log)) == 1
