"""Schema versions: create a new database and upgrade an existing one in place.

Each entry of ``MIGRATIONS`` upgrades the schema by one version and is written
so that it can run again safely (tables and indexes are created only when
missing). The version reached is stored in the ``gateway_state`` table.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

import peewee

from models.audit import AuditEvent
from models.base import database
from models.changes import CREATE_COUNTER_TABLE, SEED_COUNTER, query_counter
from models.clients import Client
from models.codes import AuthorizationCode
from models.consents import Consent
from models.integration_state import IntegrationState
from models.known_addresses import KnownAddress
from models.login_failures import LoginFailure
from models.refresh_tokens import RefreshToken
from models.runs import IntegrationRun
from models.secret_rotations import SecretRotation
from models.sessions import WebSession
from models.state import GatewayState, SigningKey, query_state, set_state
from models.tokens import AccessToken
from models.users import Permission, User, query_username_case_clashes

log = logging.getLogger("integration_gateway.models")

SCHEMA_VERSION_KEY = "schema_version"


def _migrate_to_1(db: peewee.Database) -> None:
    db.create_tables(
        [
            User,
            Permission,
            Client,
            AccessToken,
            IntegrationRun,
            AuditEvent,
            SigningKey,
        ],
        safe=True,
    )


def _add_web_sessions(db: peewee.Database) -> None:
    db.create_tables([WebSession], safe=True)


def _add_login_failures_and_switches(db: peewee.Database) -> None:
    db.create_tables([LoginFailure, IntegrationState], safe=True)


def _add_authorization_code_tables(db: peewee.Database) -> None:
    db.create_tables([AuthorizationCode, RefreshToken, Consent], safe=True)


def _add_username_case_index(db: peewee.Database) -> None:
    clashes = query_username_case_clashes()
    if clashes:
        # Failing the upgrade would stop the gateway over names that worked
        # before. create_user still rejects new clashes without the index.
        log.warning(
            "usernames differ only in letter case for %s; the unique index on"
            " lower-cased usernames is not created",
            ", ".join(clashes[:10]),
        )
        return
    User._schema.create_indexes(safe=True)


def _add_known_addresses(db: peewee.Database) -> None:
    db.create_tables([KnownAddress], safe=True)


# Single-column indexes that the composite indexes of the two models replace:
# each is the first column of one of them.
REPLACED_INDEXES = (
    "integration_run_integration",
    "integration_run_started_at",
    "audit_event_actor",
    "audit_event_action",
)


def _add_report_indexes(db: peewee.Database) -> None:
    # Creates the composite indexes declared on the models, when missing.
    db.create_tables([IntegrationRun, AuditEvent], safe=True)
    for name in REPLACED_INDEXES:
        db.execute_sql(f'DROP INDEX IF EXISTS "{name}"')


def _add_secret_rotations(db: peewee.Database) -> None:
    db.create_tables([SecretRotation], safe=True)


def _add_change_counter(db: peewee.Database) -> None:
    db.execute_sql(CREATE_COUNTER_TABLE)
    if query_counter(db) is None:
        db.execute_sql(SEED_COUNTER)


def _drop_run_user_index(db: peewee.Database) -> None:
    # Every call paid for this index; nothing reads it (see models.runs).
    db.execute_sql('DROP INDEX IF EXISTS "integration_run_user_id"')


#: Index 0 upgrades to version 1, index 1 to version 2, and so on.
MIGRATIONS: list[Callable[[peewee.Database], None]] = [
    _migrate_to_1,
    _add_web_sessions,
    _add_login_failures_and_switches,
    _add_authorization_code_tables,
    _add_username_case_index,
    _add_known_addresses,
    _add_report_indexes,
    _add_secret_rotations,
    _add_change_counter,
    _drop_run_user_index,
]

SCHEMA_VERSION = len(MIGRATIONS)


def query_schema_version() -> int:
    """Return the schema version of the connected database, 0 when empty."""
    if not database.table_exists(GatewayState._meta.table_name):
        return 0
    value = query_state(SCHEMA_VERSION_KEY)
    return int(value) if value else 0


def migrate() -> int:
    """Upgrade the connected database to ``SCHEMA_VERSION``; return the old one."""
    database.create_tables([GatewayState], safe=True)
    current = query_schema_version()
    if current > SCHEMA_VERSION:
        raise RuntimeError(
            f"the database has schema version {current}, newer than this"
            f" release's {SCHEMA_VERSION}; upgrade the gateway"
        )
    for version in range(current + 1, SCHEMA_VERSION + 1):
        with database.atomic():
            MIGRATIONS[version - 1](database.obj)
            set_state(SCHEMA_VERSION_KEY, str(version))
        log.info("database schema upgraded to version %d", version)
    # A restore may have left the table without its row.
    _add_change_counter(database.obj)
    return current
