"""Change tracking: when remembered query results of the hot path are dropped."""

from __future__ import annotations

import datetime
import logging
import re
import threading
from collections.abc import Iterator

import peewee
import pytest

from auth.accounts import activate_user, deactivate_user
from auth.clients import create_client, delete_client
from models.audit import SUCCESS, AuditEvent, record_event
from models.base import BaseModel, database, open_database, utcnow
from models.changes import RememberedQuery, check_tracked, tracker
from models.clients import CLIENT_CREDENTIALS, Client
from models.integration_state import (
    _EXECUTE_FACTS,
    IntegrationState,
    query_execute_facts,
    set_integration_enabled,
)
from models.prepared import PreparedQuery
from models.schema import migrate
from models.tokens import _LIVE_TOKEN, AccessToken, query_live_token_row
from models.users import (
    _INTEGRATIONS_WITH,
    _USER_BY_NAME,
    EXECUTE,
    SERVICE_ACCOUNT,
    STANDARD,
    User,
    create_user,
    grant_permission,
    recall_user,
    revoke_permission,
)

HASH = "$2b$04$" + "x" * 53


def counter_value() -> int:
    row = database.execute_sql('SELECT "value" FROM "change_counter"').fetchone()
    return int(row[0])


@pytest.fixture
def poll_seconds() -> Iterator[None]:
    """Restore the tracker's poll interval after the test."""
    saved = tracker.poll_seconds
    yield
    tracker.poll_seconds = saved


def marks(db: peewee.Database, count: int) -> str:
    return ", ".join([db.param] * count)


def test_tracked_models_and_columns() -> None:
    assert check_tracked(User.update(is_active=False))
    assert check_tracked(User.update(is_active=False, last_used_at=None))
    assert not check_tracked(User.update(last_used_at=None))
    assert check_tracked(User.delete())
    assert check_tracked(IntegrationState.insert(name="echo", enabled=False))
    assert not check_tracked(AuditEvent.insert(action="x", outcome=SUCCESS))
    # A write whose table is unknown counts, to be safe.
    assert check_tracked(peewee.Table("anything").insert(value=1))


def test_tracked_write_raises_both_counters(db: peewee.Database) -> None:
    before_count, before_row = tracker.count, counter_value()

    user = create_user("alice", STANDARD, HASH)

    assert tracker.count > before_count
    assert counter_value() == before_row + 1

    before_count, before_row = tracker.count, counter_value()
    User.update(last_used_at=None).where(User.id == user.id).execute()
    record_event("login", SUCCESS, actor="alice")

    assert tracker.count == before_count
    assert counter_value() == before_row


def test_transaction_raises_counter_row_once_at_commit(db: peewee.Database) -> None:
    before_row = counter_value()
    with database.atomic():
        alice = create_user("alice", STANDARD, HASH)
        grant_permission(alice, "echo", EXECUTE)
        assert counter_value() == before_row

    assert counter_value() == before_row + 1


def test_rolled_back_write_leaves_counter_row(db: peewee.Database) -> None:
    before_row = counter_value()
    with pytest.raises(RuntimeError), database.atomic():
        create_user("alice", STANDARD, HASH)
        raise RuntimeError("abandon the transaction")

    assert counter_value() == before_row
    assert User.select().count() == 0


def test_result_remembered_until_tracked_write(db: peewee.Database) -> None:
    alice = create_user("alice", STANDARD, HASH)
    grant_permission(alice, "echo", EXECUTE)
    calls: list[int] = []

    def facts(user_id: int) -> tuple[bool, bool]:
        calls.append(user_id)
        return query_execute_facts.function(user_id, "echo")

    remembered = RememberedQuery(facts)

    assert remembered(alice.id) == (True, True)
    assert remembered(alice.id) == (True, True)
    assert calls == [alice.id]

    revoke_permission(alice, "echo", EXECUTE)

    assert remembered(alice.id) == (False, True)
    assert calls == [alice.id, alice.id]

    set_integration_enabled("echo", False, "staff")

    assert remembered(alice.id) == (False, False)


def test_none_is_not_remembered(db: peewee.Database) -> None:
    assert recall_user("alice") is None

    # The user appears through SQL that the tracker does not see.
    columns = "username, kind, password_hash, is_active, created_at, credential_version"
    database.execute_sql(
        f'INSERT INTO "user" ({columns}) VALUES ({marks(database.obj, 6)})',  # noqa: S608
        ("alice", STANDARD, HASH, True, "2026-01-01 00:00:00", 1),
    )

    user = recall_user("alice")
    assert user is not None
    assert user.username == "alice"


@pytest.mark.usefixtures("poll_seconds")
def test_write_of_other_process_seen_at_next_poll(db: peewee.Database) -> None:
    alice = create_user("alice", STANDARD, HASH)
    grant_permission(alice, "echo", EXECUTE)
    tracker.poll_seconds = 3600.0
    assert query_execute_facts(alice.id, "echo") == (True, True)

    # Another process removes the permission and raises the counter row, on
    # a connection of its own.
    other_db = type(database.obj)(**_connect_params(database.obj))
    with other_db.atomic():
        other_db.execute_sql(
            f'DELETE FROM "permission" WHERE "user_id" = {marks(other_db, 1)}',  # noqa: S608
            (alice.id,),
        )
        other_db.execute_sql(
            'UPDATE "change_counter" SET "value" = "value" + 1 WHERE "id" = 1'
        )
    other_db.close()

    # Until the next poll, this process keeps its result.
    assert query_execute_facts(alice.id, "echo") == (True, True)

    tracker.poll_seconds = 0.0
    assert query_execute_facts(alice.id, "echo") == (False, True)


def test_commit_in_another_thread_counts_again(db: peewee.Database) -> None:
    alice = create_user("alice", STANDARD, HASH)
    grant_permission(alice, "echo", EXECUTE)
    written = threading.Event()
    commit = threading.Event()
    counts: list[int] = []

    def revoke_in_thread() -> None:
        with database.atomic():
            revoke_permission(alice, "echo", EXECUTE)
            written.set()
            commit.wait(10)
            counts.append(tracker.count)
        counts.append(tracker.count)
        database.close()

    thread = threading.Thread(target=revoke_in_thread)
    thread.start()
    assert written.wait(10)
    # Read while the other thread's transaction is still open: the old result.
    assert query_execute_facts(alice.id, "echo") == (True, True)
    commit.set()
    thread.join(10)

    assert counts[1] > counts[0]
    assert query_execute_facts(alice.id, "echo") == (False, True)


@pytest.mark.parametrize(
    "query",
    [
        _LIVE_TOKEN,
        _EXECUTE_FACTS,
        _USER_BY_NAME,
        _INTEGRATIONS_WITH,
    ],
    ids=["live_token", "execute_facts", "user", "integrations_with"],
)
def test_remembered_queries_read_only_tracked_tables(
    db: peewee.Database, query: PreparedQuery
) -> None:
    tracked = {
        model._meta.table_name
        for model in _all_models()
        if getattr(model._meta, "track_changes", False)
    }
    sql, _ = query.build().sql()
    tables = set(re.findall(r'(?:FROM|JOIN) "([a-z_]+)"', sql))

    assert tables
    assert tables <= tracked


def _all_models() -> list[type[peewee.Model]]:
    found: list[type[peewee.Model]] = []
    pending = list(BaseModel.__subclasses__())
    while pending:
        model = pending.pop()
        found.append(model)
        pending.extend(model.__subclasses__())
    return found


def _connect_params(db: peewee.Database) -> dict[str, object]:
    params = dict(db.connect_params)
    params["database"] = db.database
    return params


def test_open_database_forgets_results(database_url: str) -> None:
    first = open_database(database_url)
    count = tracker.count
    first.close()

    second = open_database(database_url)
    second.close()

    assert tracker.count > count


def test_missing_counter_row_stops_remembering(
    db: peewee.Database, caplog: pytest.LogCaptureFixture
) -> None:
    alice = create_user("alice", STANDARD, HASH)
    database.execute_sql('DELETE FROM "change_counter"')
    tracker.use_database(database.obj)

    with caplog.at_level(logging.ERROR, logger="integration_gateway.models.changes"):
        first = tracker.current()
        second = tracker.current()
    grant_permission(alice, "echo", EXECUTE)

    assert second != first
    assert query_execute_facts(alice.id, "echo") == (True, True)
    assert [record.getMessage() for record in caplog.records] == [
        "the change_counter table has no row, so no query result is kept in"
        " memory; restart the gateway to recreate the row"
    ]
    # The next start recreates the row.
    migrate()
    assert counter_value() == 0


def register_app(user: User) -> Client:
    client, _ = create_client(
        "key", name="App", grant_types=[CLIENT_CREDENTIALS], service_account=user
    )
    return client


def insert_token(jti: str, client: Client, user: User) -> None:
    """Insert a token row directly, as a token request commits it."""
    AccessToken.create(
        jti=jti,
        client_id=client.client_id,
        user=user,
        expires_at=utcnow() + datetime.timedelta(hours=1),
    )


def test_token_of_deleted_client_is_not_live(db: peewee.Database) -> None:
    alice = create_user("alice", SERVICE_ACCOUNT, HASH)
    client = register_app(alice)
    insert_token("a" * 32, client, alice)
    assert query_live_token_row("a" * 32) is not None

    delete_client(client)
    # A row inserted after the deletion revoked the others, as by a token
    # request that read the client just before.
    insert_token("b" * 32, client, alice)

    assert query_live_token_row("a" * 32) is None
    assert query_live_token_row("b" * 32) is None


def test_activation_revokes_tokens_issued_while_inactive(db: peewee.Database) -> None:
    alice = create_user("alice", SERVICE_ACCOUNT, HASH)
    client = register_app(alice)
    deactivate_user(alice)
    insert_token("c" * 32, client, alice)

    counts = activate_user(alice)

    assert counts is not None
    assert counts.access_tokens == 1
    assert query_live_token_row("c" * 32) is None
    assert activate_user(alice) is None
