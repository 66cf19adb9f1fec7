"""Schema versions: a new database, an existing one, and an upgrade in place."""

from __future__ import annotations

from collections.abc import Iterator

import peewee
import pytest
from playhouse.migrate import SchemaMigrator
from playhouse.migrate import migrate as run_operations

import models
from models import schema
from models.schema import SCHEMA_VERSION, query_schema_version
from models.state import GatewayState, ensure_secret, query_state, set_state
from models.users import STANDARD, User, create_user

HASH = "$2b$04$" + "x" * 53
TABLES = {
    "access_token",
    "audit_event",
    "change_counter",
    "client",
    "gateway_state",
    "integration_run",
    "known_address",
    "permission",
    "secret_rotation",
    "signing_key",
    "user",
}


@pytest.fixture
def empty_db(database_url: str) -> Iterator[peewee.Database]:
    """An open database on which no migration ran yet."""
    database = models.open_database(database_url)
    yield database
    database.close()


def test_new_database(empty_db: peewee.Database) -> None:
    assert query_schema_version() == 0

    assert models.migrate() == 0

    assert query_schema_version() == SCHEMA_VERSION
    assert TABLES <= set(empty_db.get_tables())


def test_migrate_again_changes_nothing(empty_db: peewee.Database) -> None:
    models.migrate()
    create_user("alice", STANDARD, HASH)

    assert models.migrate() == SCHEMA_VERSION

    assert query_schema_version() == SCHEMA_VERSION
    assert User.select().count() == 1


def test_first_migration_is_idempotent(empty_db: peewee.Database) -> None:
    models.migrate()
    create_user("alice", STANDARD, HASH)

    schema.MIGRATIONS[0](empty_db)

    assert User.select().count() == 1


def test_newer_database_refused(empty_db: peewee.Database) -> None:
    models.migrate()
    set_state(schema.SCHEMA_VERSION_KEY, str(SCHEMA_VERSION + 1))

    with pytest.raises(RuntimeError, match="newer than this release"):
        models.migrate()


def test_upgrade_existing_database_in_place(
    empty_db: peewee.Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    models.migrate()
    create_user("alice", STANDARD, HASH)
    secret = ensure_secret("cookie_secret")

    def add_nickname(db: peewee.Database) -> None:
        if "nickname" not in {column.name for column in db.get_columns("user")}:
            field = peewee.CharField(max_length=40, null=True)
            run_operations(
                SchemaMigrator.from_database(db).add_column("user", "nickname", field)
            )

    monkeypatch.setattr(schema, "MIGRATIONS", [*schema.MIGRATIONS, add_nickname])
    monkeypatch.setattr(schema, "SCHEMA_VERSION", SCHEMA_VERSION + 1)

    assert models.migrate() == SCHEMA_VERSION

    assert query_schema_version() == SCHEMA_VERSION + 1
    columns = {column.name for column in empty_db.get_columns("user")}
    assert "nickname" in columns
    assert User.get(User.username == "alice").password_hash == HASH
    assert query_state("cookie_secret") == secret
    # Running again finds the new version and changes nothing.
    assert models.migrate() == SCHEMA_VERSION + 1


def test_failed_migration_keeps_old_version(
    empty_db: peewee.Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    models.migrate()

    def broken(db: peewee.Database) -> None:
        raise peewee.ProgrammingError("broken migration")

    monkeypatch.setattr(schema, "MIGRATIONS", [*schema.MIGRATIONS, broken])
    monkeypatch.setattr(schema, "SCHEMA_VERSION", SCHEMA_VERSION + 1)

    with pytest.raises(peewee.ProgrammingError):
        models.migrate()

    assert query_schema_version() == SCHEMA_VERSION


def test_secret_generated_once(empty_db: peewee.Database) -> None:
    models.migrate()

    first = ensure_secret("cookie_secret", 48)
    second = ensure_secret("cookie_secret", 48)

    assert first == second
    assert len(first) >= 64
    assert (
        GatewayState.select().where(GatewayState.name == "cookie_secret").count() == 1
    )


CASE_INDEX_VERSION = schema.MIGRATIONS.index(schema._add_username_case_index) + 1


def _downgrade_to_case_index_migration(db: peewee.Database) -> None:
    """Drop the case index and set the version back to just before it."""
    db.execute_sql("DROP INDEX user_username_lower")
    set_state(schema.SCHEMA_VERSION_KEY, str(CASE_INDEX_VERSION - 1))


def test_case_index_added_on_upgrade(empty_db: peewee.Database) -> None:
    models.migrate()
    create_user("alice", STANDARD, HASH)
    _downgrade_to_case_index_migration(empty_db)
    with empty_db.atomic():
        User.create(username="Bob", kind=STANDARD, password_hash=HASH)

    models.migrate()

    assert query_schema_version() == SCHEMA_VERSION
    with pytest.raises(peewee.IntegrityError), empty_db.atomic():
        User.create(username="ALICE", kind=STANDARD, password_hash=HASH)


def test_case_clash_skips_index_with_warning(
    empty_db: peewee.Database, caplog: pytest.LogCaptureFixture
) -> None:
    models.migrate()
    create_user("alice", STANDARD, HASH)
    _downgrade_to_case_index_migration(empty_db)
    with empty_db.atomic():
        User.create(username="Alice", kind=STANDARD, password_hash=HASH)

    models.migrate()

    assert query_schema_version() == SCHEMA_VERSION
    warnings = [
        record.getMessage()
        for record in caplog.records
        if record.levelname == "WARNING"
    ]
    assert warnings == [
        "usernames differ only in letter case for alice; the unique index on"
        " lower-cased usernames is not created"
    ]
    assert User.select().count() == 2
