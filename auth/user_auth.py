"""Checking a username and password, with bcrypt kept off the event loop.

Pending bcrypt checks are bounded in total and per client address, so one
address that floods wrong passwords fills its own share of the queue and gets
:class:`BusyError` while other addresses still get a thread. Concurrent
checks of the same credential share one bcrypt run.
"""

from __future__ import annotations

import asyncio
import dataclasses
import datetime
import time

from auth.credential_cache import CredentialCache
from auth.passwords import PasswordHasher
from models.base import database, utcnow
from models.changes import tracker
from models.users import User, check_username_syntax, recall_user

# last_used_at is written at most this often per user, to keep writes off the
# hot path.
LAST_USED_RESOLUTION = datetime.timedelta(seconds=60)
#: Pending bcrypt checks one client address may have at a time.
MAX_PENDING_PER_ADDRESS = 4


class BusyError(Exception):
    """Too many password checks are already waiting for a thread."""


@dataclasses.dataclass(frozen=True)
class Credential:
    """A username and password as presented, with the user the name belongs to."""

    username: str
    password: str
    #: The user called ``username``; None when there is none.
    user: User | None
    #: Key of the credential in the cache.
    digest: bytes

    @property
    def check_key(self) -> tuple[bytes, str | None]:
        """Return the key among running checks: credential and hash checked.

        A request made after a password change reads the new hash, so it never
        joins a running check of the old one.
        """
        return self.digest, self.user.password_hash if self.user else None


class UserAuthenticator:
    """Verifies passwords, remembering verified Basic credentials in memory."""

    def __init__(
        self,
        hasher: PasswordHasher,
        cache: CredentialCache,
        max_pending: int,
        max_pending_per_address: int = MAX_PENDING_PER_ADDRESS,
    ) -> None:
        self.hasher = hasher
        self.cache = cache
        # Bounds the queue of bcrypt checks, so that a flood of wrong passwords
        # is answered at once instead of growing the queue without limit.
        self.max_pending = max_pending
        self.max_pending_per_address = max_pending_per_address
        self.pending = 0
        self._pending_by_address: dict[str, int] = {}
        self._running: dict[tuple[bytes, str | None], asyncio.Future[bool]] = {}

    def lookup(self, username: str, password: str) -> Credential:
        """Read the user that ``username`` names; no password check yet."""
        user = recall_user(username) if check_username_syntax(username) else None
        return Credential(
            username, password, user, self.cache.digest(username, password)
        )

    def check_cached(self, credential: Credential) -> bool:
        """Return whether ``credential`` was verified for its active user already."""
        user = credential.user
        return (
            user is not None
            and user.is_active
            and self.cache.check(credential.digest, user.id, user.credential_version)
        )

    def check_running(self, credential: Credential) -> bool:
        """Return whether a bcrypt check of this same credential is running."""
        return credential.check_key in self._running

    async def verify(self, credential: Credential, remote_addr: str) -> User | None:
        """Check the password with bcrypt; return the active user or None.

        Joins a running check of the same credential instead of starting one.
        Raises :class:`BusyError` when the pending checks of everyone, or of
        ``remote_addr``, are at their bound.
        """
        running = self._running.get(credential.check_key)
        if running is None:
            running = self._start_check(credential, remote_addr)
        # Shielded, so that one caller that goes away does not cancel the
        # check that others wait for.
        matched = await asyncio.shield(running)

        user = credential.user
        if not matched or user is None or not user.is_active:
            return None
        self.cache.remember(credential.digest, user.id, user.credential_version)
        return user

    async def authenticate(
        self, username: str, password: str, remote_addr: str
    ) -> User | None:
        """Return the active user with this password, or None.

        Raises :class:`BusyError` as :meth:`verify` does.
        """
        credential = self.lookup(username, password)
        if self.check_cached(credential):
            return credential.user
        return await self.verify(credential, remote_addr)

    def _start_check(
        self, credential: Credential, remote_addr: str
    ) -> asyncio.Future[bool]:
        address_pending = self._pending_by_address.get(remote_addr, 0)
        if (
            self.pending >= self.max_pending
            or address_pending >= self.max_pending_per_address
        ):
            raise BusyError()
        self.pending += 1
        self._pending_by_address[remote_addr] = address_pending + 1

        # An unknown user is checked against a dummy hash, so it costs the same
        # time as a wrong password.
        password_hash = credential.user.password_hash if credential.user else None
        task = asyncio.ensure_future(
            self.hasher.check(credential.password, password_hash)
        )
        self._running[credential.check_key] = task
        task.add_done_callback(
            lambda done: self._finish_check(credential.check_key, remote_addr, done)
        )
        return task

    def _finish_check(
        self,
        key: tuple[bytes, str | None],
        remote_addr: str,
        task: asyncio.Future[bool],
    ) -> None:
        self.pending -= 1
        remaining = self._pending_by_address[remote_addr] - 1
        if remaining:
            self._pending_by_address[remote_addr] = remaining
        else:
            del self._pending_by_address[remote_addr]
        del self._running[key]
        if not task.cancelled():
            # Marks a failure as retrieved when every waiter has gone away.
            task.exception()


class LastUseWrites:
    """When this process last wrote each user's ``last_used_at``.

    The user rows behind a call may be remembered (models.changes) with an
    older ``last_used_at`` than the one written since. The record is dropped
    whenever the change count moves, which costs at most one more write per
    user.
    """

    def __init__(self, max_entries: int = 10_000) -> None:
        self.max_entries = max_entries
        # Monotonic time of the last use known to be recorded, by user.
        self._recorded_at: dict[int, float] = {}
        self._count = -1

    def touch(self, user_id: int, last_used_at: datetime.datetime | None) -> None:
        """Record that the user was just used, at most once a minute per process."""
        if tracker.count != self._count:
            self._recorded_at = {}
            self._count = tracker.count
        resolution = LAST_USED_RESOLUTION.total_seconds()
        recorded_at = self._recorded_at.get(user_id)
        if recorded_at is not None and time.monotonic() - recorded_at <= resolution:
            return
        now = utcnow()
        if last_used_at is not None and now - last_used_at <= LAST_USED_RESOLUTION:
            age = (now - last_used_at).total_seconds()
            self._remember(user_id, time.monotonic() - age)
            return
        query = User.update(last_used_at=now).where(User.id == user_id)
        # This may be the first statement on a connection that PostgreSQL
        # dropped. Sent alone, its failure would leave unknown whether it
        # committed, so it runs in a transaction whose BEGIN fails first.
        database.run_transaction(query.execute)
        self._remember(user_id, time.monotonic())

    def _remember(self, user_id: int, recorded_at: float) -> None:
        if len(self._recorded_at) >= self.max_entries:
            self._recorded_at = {}
        self._recorded_at[user_id] = recorded_at


_last_use_writes = LastUseWrites()


def touch_last_used(user_id: int, last_used_at: datetime.datetime | None) -> None:
    """Record that the user was just used, at most once a minute."""
    _last_use_writes.touch(user_id, last_used_at)
