"""The database handle, the model base class and the connection settings."""

from __future__ import annotations

import datetime
import os
import sqlite3
import urllib.parse
from collections.abc import Callable
from typing import Any, ClassVar, TypeVar

import peewee
from playhouse import db_url

from models.changes import check_tracked, tracker
from models.reconnect import DATABASE_ERRORS, ReconnectingPostgresqlDatabase

#: Every model binds to this proxy; :func:`open_database` points it at a database.
database = peewee.DatabaseProxy()

# Log size, in pages of 4 KiB, above which a checkpoint also empties the log.
WAL_TRUNCATE_FRAMES = 4096

R = TypeVar("R")


def utcnow() -> datetime.datetime:
    """Return the current UTC time without tzinfo, as the models store it."""
    return datetime.datetime.now(datetime.UTC).replace(tzinfo=None)


class BaseModel(peewee.Model):
    """The base of every model, bound to :data:`database`.

    peewee adds an ``id`` primary key to a model that names none, and an
    ``<name>_id`` attribute for each foreign key ``<name>``. Models declare
    these as annotations without a value, which tell the type checker about
    them and create no field.
    """

    # Both are set by peewee. _dirty contains the names of the fields changed
    # since the last save, and _schema builds the class's tables and indexes.
    _dirty: set[str]
    _schema: ClassVar[peewee.SchemaManager]

    class Meta:
        database = database
        legacy_table_names = False

    @classmethod
    def delete_batch(cls, condition: peewee.Expression, limit: int) -> int:
        """Delete up to ``limit`` rows that match ``condition`` and return how many.

        PostgreSQL has no ``DELETE ... LIMIT``, so the ids are selected first.
        """
        key: Any = cls._meta.primary_key
        ids = [row.get_id() for row in cls.select(key).where(condition).limit(limit)]
        if not ids:
            return 0
        return int(cls.delete().where(key.in_(ids)).execute())


class _TrackedWrites(peewee.Database):
    """Counts writes to tracked models in :data:`models.changes.tracker`."""

    # Each database class below defines it; an annotation does not shadow it.
    run_transaction: Callable[[Callable[[], Any]], Any]

    def execute(self, query: Any, **context_options: Any) -> Any:
        if not (isinstance(query, _WRITE_QUERIES) and check_tracked(query)):
            return super().execute(query, **context_options)
        execute = super().execute

        def write() -> Any:
            cursor = execute(query, **context_options)
            tracker.note_write()
            return cursor

        # The counter row is raised in the write's own transaction, so no
        # process can see the change without the raise.
        return self.run_transaction(write)

    def commit(self) -> None:
        tracker.before_commit(self)
        super().commit()
        tracker.note_transaction_end()

    def rollback(self) -> None:
        super().rollback()
        tracker.note_transaction_end()


_WRITE_QUERIES = (peewee.Insert, peewee.Update, peewee.Delete)


class SqliteDatabase(_TrackedWrites, peewee.SqliteDatabase):
    def run_transaction(self, function: Callable[[], R]) -> R:
        """Run ``function`` in a transaction and return its result."""
        with self.atomic():
            return function()


class PostgresqlDatabase(_TrackedWrites, ReconnectingPostgresqlDatabase):
    pass


def open_database(url: str, background_checkpoints: bool = False) -> peewee.Database:
    """Connect to the database at ``url`` and bind the models to it.

    With ``background_checkpoints``, an SQLite connection does not copy its
    write-ahead log into the database file itself; the caller must then run
    :func:`checkpoint_sqlite` regularly, off the event loop.
    """
    path = sqlite_path(url)
    if path is not None:
        directory = os.path.dirname(path)
        if directory:
            os.makedirs(directory, exist_ok=True)
        # WAL with synchronous=NORMAL keeps every committed transaction across a
        # crash of this process; only a power loss can drop the last commits.
        pragmas: dict[str, object] = {
            "journal_mode": "wal",
            "synchronous": "normal",
            "foreign_keys": 1,
            "busy_timeout": 5000,
        }
        if background_checkpoints:
            # A checkpoint inside a commit costs more than the commit itself.
            pragmas["wal_autocheckpoint"] = 0
        db: peewee.Database = SqliteDatabase(path, pragmas=pragmas)
    else:
        parsed = urllib.parse.urlparse(url)
        db = PostgresqlDatabase(**db_url.parseresult_to_dict(parsed, True, True))
    database.initialize(db)
    tracker.use_database(db)
    return db


def reset_connection() -> None:
    """Drop a broken connection so that the next query opens a new one."""
    try:
        if not database.is_closed():
            database.close()
    except DATABASE_ERRORS:
        # The connection is already gone, so only peewee's record of it is dropped.
        database._state.reset()


def check_database() -> bool:
    """Run a trivial query and report whether the database responded.

    On PostgreSQL a connection the server dropped (a restart, an idle timeout)
    is reopened by the query itself, so one failure means the database is
    unreachable.
    """
    try:
        database.execute_sql("SELECT 1").fetchone()
    except DATABASE_ERRORS:
        reset_connection()
        return False
    return True


def checkpoint_sqlite(path: str) -> int:
    """Copy the write-ahead log of the SQLite file at ``path`` into it.

    Opens a connection of its own, so it can run in a worker thread while the
    event loop keeps writing. A PASSIVE checkpoint never waits for writers, but
    under steady writes it may never catch up with the end of the log; once
    the log passes ``WAL_TRUNCATE_FRAMES``, a TRUNCATE checkpoint holds writers
    back while it copies the few frames left and empties the log.
    Returns the number of frames in the log before the checkpoint.
    """
    connection = sqlite3.connect(path, timeout=5)
    try:
        row = connection.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
        frames = int(row[1]) if row else 0
        if frames > WAL_TRUNCATE_FRAMES:
            connection.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
    finally:
        connection.close()
    return frames


def sqlite_path(url: str) -> str | None:
    """Return the file of an ``sqlite:///`` URL, or None for other databases."""
    if not url.lower().startswith("sqlite:///"):
        return None
    return urllib.parse.unquote(url[len("sqlite:///") :])
