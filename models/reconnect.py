"""Reconnecting to PostgreSQL when the server has dropped the connection.

PostgreSQL closes a connection on a restart, a failover, an idle timeout or
``pg_terminate_backend``, and psycopg2 learns of it only when the next
statement fails. The database class here opens a new connection at that
point and runs the work again, but only when nothing of it can have been
committed:

- a read (a statement that starts with ``SELECT``) outside a transaction;
- any statement that psycopg2 rejected without sending it, because it already
  knew the connection was closed;
- ``BEGIN``, since none of the transaction has run yet;
- a whole transaction run by :meth:`ReconnectingPostgresqlDatabase.run_transaction`
  that failed before ``COMMIT`` was sent, because the server rolls back the
  open transaction of a connection it dropped.

A write outside a transaction commits by itself, and ``COMMIT`` may have
taken effect before the connection broke, so a failure of either is raised
and never run again. A transaction in a plain ``atomic()`` block is run again
only when its ``BEGIN`` failed, because only the caller can run the block's
statements again. SQLite runs in this process, so no server can drop its
connection, and nothing is run again there, not even after ``database is
locked``.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Any, TypeVar

import peewee

log = logging.getLogger("integration_gateway.models.reconnect")

#: Errors that mean the database could not be reached or the connection broke.
DATABASE_ERRORS = (peewee.OperationalError, peewee.InterfaceError)

R = TypeVar("R")


class AmbiguousCommitError(peewee.OperationalError):
    """The connection broke while ``COMMIT`` ran.

    The transaction may or may not have committed, so it is never run again.
    """


def describe_error(error: BaseException) -> str:
    """Return the first line of ``error``'s message, for a one-line log record."""
    text = str(error).strip()
    return text.splitlines()[0] if text else type(error).__name__


def check_read(sql: str) -> bool:
    """Return whether ``sql`` only reads, judged by its first keyword.

    A read may run twice, so a ``SELECT`` must not call a function that
    changes anything.
    """
    return sql.lstrip()[:6].upper() == "SELECT"


def check_statement_rerun(sql: str, error: Exception, in_transaction: bool) -> bool:
    """Return whether a statement that failed on a dropped connection may run again.

    Inside a transaction, the earlier statements were lost with the
    connection, so only the owner of the whole transaction may run it again.
    Outside one, a read may run twice, and a write only if psycopg2 never
    sent it: psycopg2 raises ``InterfaceError`` for a connection it already
    knew to be closed, and ``OperationalError`` once it has sent the statement.
    """
    if in_transaction:
        return False
    return check_read(sql) or isinstance(error, peewee.InterfaceError)


class ReconnectingPostgresqlDatabase(peewee.PostgresqlDatabase):
    """A PostgreSQL database that reopens a connection the server dropped."""

    # peewee's per-thread connection record, which its type stubs leave out.
    _state: peewee._ConnectionState

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        # Whether this thread's connection is between a BEGIN and its COMMIT
        # or ROLLBACK. peewee pops its record of the transaction before it
        # commits, and the statements sent after that still belong to it.
        self._open_transaction = threading.local()
        super().__init__(*args, **kwargs)

    def check_connection_lost(self) -> bool:
        """Return whether this thread's connection is one psycopg2 found closed."""
        connection = self._state.conn
        return connection is not None and connection.closed != 0

    def check_in_transaction(self) -> bool:
        """Return whether a statement now would run inside a transaction."""
        return self.in_transaction() or getattr(self._open_transaction, "value", False)

    def connect(self, reuse_if_open: bool = False) -> bool:
        opened = super().connect(reuse_if_open)
        if opened:
            self._open_transaction.value = False
        return opened

    def _reconnect(self, error: BaseException, work: str) -> None:
        # Call it only outside a transaction, because peewee raises
        # OperationalError when asked to close a connection inside one.
        log.warning(
            "PostgreSQL dropped the connection (%s), reconnecting to run the %s again",
            describe_error(error),
            work,
        )
        # Closing a connection that psycopg2 found broken sends nothing.
        self.close()
        self.connect()

    def execute_sql(self, sql: str, params: Any = None) -> Any:
        try:
            return super().execute_sql(sql, params)
        except DATABASE_ERRORS as error:
            if not self.check_connection_lost():
                raise
            in_transaction = self.check_in_transaction()
            if not check_statement_rerun(sql, error, in_transaction):
                # Dropping the broken connection lets the next statement
                # connect without a reconnect. Inside a transaction it stays,
                # because peewee closes no connection with a transaction open.
                if not in_transaction:
                    self.close()
                raise
            self._reconnect(error, "read" if check_read(sql) else "statement")
        return super().execute_sql(sql, params)

    def begin(self, *args: Any, **kwargs: Any) -> None:
        try:
            super().begin(*args, **kwargs)
        except DATABASE_ERRORS as error:
            # peewee records the transaction only after BEGIN succeeded, so a
            # transaction open here is an outer one, lost with the connection.
            if self.check_in_transaction() or not self.check_connection_lost():
                raise
            self._reconnect(error, "BEGIN")
            super().begin(*args, **kwargs)
        self._open_transaction.value = True

    def commit(self) -> None:
        self._open_transaction.value = False
        try:
            super().commit()
        except peewee.InterfaceError:
            # psycopg2 did not send COMMIT, so the transaction is lost.
            raise
        except DATABASE_ERRORS as error:
            if not self.check_connection_lost():
                raise
            raise AmbiguousCommitError(
                "connection lost during COMMIT, so the transaction may or may not"
                f" have committed: {describe_error(error)}"
            ) from error

    def rollback(self) -> None:
        self._open_transaction.value = False
        # The server ended the transaction when it dropped the connection, so
        # there is nothing to roll back. Sending ROLLBACK would only raise
        # InterfaceError in place of the error that ended the transaction.
        if self.check_connection_lost():
            return
        super().rollback()

    def run_transaction(self, function: Callable[[], R]) -> R:
        """Run ``function`` in a transaction and return its result.

        When the connection broke before ``COMMIT`` was sent, ``function`` runs
        once more in a new transaction on a new connection, so it must change
        nothing but the database. Inside an open transaction it runs in a
        savepoint and only once, because the outer transaction is lost too.
        """
        if self.check_in_transaction():
            with self.atomic():
                return function()
        try:
            with self.atomic():
                return function()
        except DATABASE_ERRORS as error:
            if not self.check_connection_lost():
                raise
            if isinstance(error, AmbiguousCommitError):
                self.close()
                raise
            self._reconnect(error, "transaction")
        with self.atomic():
            return function()
