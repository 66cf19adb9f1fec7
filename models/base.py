"""The database handle, the model base class and the connection settings."""

from __future__ import annotations

import datetime
import os
import urllib.parse

import peewee
from playhouse import db_url

#: Every model binds to this proxy; :func:`open_database` points it at a database.
database = peewee.DatabaseProxy()

# Errors that mean the database could not be reached or the connection broke.
DATABASE_ERRORS = (peewee.OperationalError, peewee.InterfaceError)


def utcnow() -> datetime.datetime:
    """Return the current UTC time without tzinfo, as the models store it."""
    return datetime.datetime.now(datetime.UTC).replace(tzinfo=None)


class BaseModel(peewee.Model):
    class Meta:
        database = database
        legacy_table_names = False


def open_database(url: str) -> peewee.Database:
    """Connect to the database at ``url`` and bind the models to it."""
    scheme = url.split(":", 1)[0].lower()
    if scheme == "sqlite":
        path = urllib.parse.unquote(url[len("sqlite:///") :])
        directory = os.path.dirname(path)
        if directory:
            os.makedirs(directory, exist_ok=True)
        # WAL with synchronous=NORMAL keeps every committed transaction across a
        # crash of this process; only a power loss can drop the last commits.
        db: peewee.Database = peewee.SqliteDatabase(
            path,
            pragmas={
                "journal_mode": "wal",
                "synchronous": "normal",
                "foreign_keys": 1,
                "busy_timeout": 5000,
            },
        )
    else:
        db = db_url.connect(url, unquote_password=True, unquote_user=True)
    database.initialize(db)
    return db


def reset_connection() -> None:
    """Drop a broken connection so that the next query opens a new one."""
    try:
        if not database.is_closed():
            database.close()
    except DATABASE_ERRORS:
        # The connection is gone already; peewee still forgets it.
        database._state.reset()


def check_database() -> bool:
    """Run a trivial query and report whether the database answered."""
    try:
        database.execute_sql("SELECT 1").fetchone()
    except DATABASE_ERRORS:
        reset_connection()
        return False
    return True
