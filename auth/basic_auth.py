"""Basic credentials on the partner API, checked under the login throttle.

Failed Basic checks are counted in the same table and against the same limits
as failed logins to the pages (:mod:`auth.login_throttle`), and an attempt over
a limit raises :class:`ThrottledError` before bcrypt runs. The rules keep an
attacker from locking a real service account out everywhere:

- Per client address, over every failure from it, logins included. This limit
  applies to every attempt, even one whose credential is remembered as
  verified: otherwise a throttled address could keep guessing, because a right
  guess would succeed from the cache and a wrong one would be rejected.
- A credential that bcrypt verified and that is remembered for the user's
  current credential version (:mod:`auth.credential_cache`) is not subject to
  the per-username limit. It proves the password without a new guess, so a
  partner system keeps working while its username is under attack.
- Per username, over failures from addresses where the username has not
  authenticated with its password in the last ``KNOWN_ADDRESS_DAYS`` days.
  Failures from such a known address count apart, the way the login page
  counts a device cookie's, so after a restart or a cache expiry the partner
  system still authenticates from its own address.
- An attempt rejected by the per-username limit is recorded as a failure of
  its address. Such a rejection reveals that the password is not a remembered
  one, which is the outcome of a guess, so it uses up the address's allowance
  like any failed guess.
"""

from __future__ import annotations

import collections
import datetime
import time

from auth.login_throttle import LoginAttempt, LoginThrottle
from auth.user_auth import BusyError, Credential, UserAuthenticator
from models.base import utcnow
from models.known_addresses import check_known_address, remember_known_address
from models.users import User

#: An address stays known this long after the username last authenticated
#: from it with bcrypt.
KNOWN_ADDRESS_DAYS = 90
#: ``device_id`` of the failures recorded from a known address, followed by
#: the address. Device cookie ids never contain a colon.
KNOWN_ADDRESS_PREFIX = "address:"
#: Addresses with a recent failure that this process keeps in memory.
MAX_NOTED_ADDRESSES = 10_000


class ThrottledError(Exception):
    """Too many failed attempts for the username or from the address."""

    def __init__(self, retry_after: int, recorded: bool) -> None:
        super().__init__(f"throttled for {retry_after} seconds")
        self.retry_after = retry_after
        #: Whether the rejected attempt was recorded as a failure.
        self.recorded = recorded


class BasicAuthenticator:
    """Checks Basic credentials with the login throttle's limits."""

    def __init__(
        self, authenticator: UserAuthenticator, throttle: LoginThrottle
    ) -> None:
        self.authenticator = authenticator
        self.throttle = throttle
        self.window_seconds = throttle.window.total_seconds()
        # Addresses with a failure in this process, by monotonic time. A
        # remembered credential pays the address query only from these.
        self._failed_at: collections.OrderedDict[str, float] = collections.OrderedDict()
        self._check_all_until = 0.0

    def check_remembered(
        self, username: str, password: str, remote_addr: str
    ) -> User | None:
        """Return the user if bcrypt verified this credential before, else None.

        Runs no bcrypt and may be called before :meth:`authenticate`. Raises
        :class:`ThrottledError` for an address over its limit.
        """
        credential = self.authenticator.lookup(username, password)
        return self._remembered_user(credential, remote_addr)

    async def authenticate(
        self, username: str, password: str, remote_addr: str
    ) -> User | None:
        """Return the active user with this password, or None.

        Raises :class:`ThrottledError` over a limit and
        :class:`auth.user_auth.BusyError` when too many checks are pending.
        """
        credential = self.authenticator.lookup(username, password)
        user = self._remembered_user(credential, remote_addr)
        if user is not None:
            return user

        self._check_address(remote_addr)
        if self.authenticator.check_running(credential):
            # The same guess is being checked already and was counted then.
            return await self._verify(credential, remote_addr, None)

        attempt = LoginAttempt(
            username, remote_addr, self._query_source_id(username, remote_addr)
        )
        retry_after = self.throttle.check_account_retry_after(attempt)
        if retry_after is not None:
            self.throttle.record_failure(attempt)
            self._note_failure(remote_addr)
            raise ThrottledError(retry_after, recorded=True)

        # Counted before bcrypt and taken back on success, as on the login
        # page, so concurrent guesses cannot all pass the limit at once.
        failure_id = self.throttle.record_failure(attempt)
        return await self._verify(credential, remote_addr, failure_id)

    async def _verify(
        self, credential: Credential, remote_addr: str, failure_id: int | None
    ) -> User | None:
        try:
            user = await self.authenticator.verify(credential, remote_addr)
        except BusyError:
            if failure_id is not None:
                self.throttle.forget_failure(failure_id)
            raise
        if user is None:
            self._note_failure(remote_addr)
            return None
        if failure_id is not None:
            self.throttle.forget_failure(failure_id)
            remember_known_address(credential.username, remote_addr)
        return user

    def _remembered_user(self, credential: Credential, remote_addr: str) -> User | None:
        if not self.authenticator.check_cached(credential):
            return None
        # NOTE: failures recorded by other gateway processes are not noted
        # here, so an address throttled elsewhere gets one extra guess per
        # process and window: its first wrong password here is rejected by
        # the database count and noted.
        if self._failed_recently(remote_addr):
            self._check_address(remote_addr)
        return credential.user

    def _check_address(self, remote_addr: str) -> None:
        retry_after = self.throttle.check_address_retry_after(remote_addr)
        if retry_after is not None:
            self._note_failure(remote_addr)
            raise ThrottledError(retry_after, recorded=False)

    def _query_source_id(self, username: str, remote_addr: str) -> str | None:
        """Return the failure ``device_id`` of a known address, or None."""
        since = utcnow() - datetime.timedelta(days=KNOWN_ADDRESS_DAYS)
        if not check_known_address(username, remote_addr, since):
            return None
        return (KNOWN_ADDRESS_PREFIX + remote_addr)[:64]

    def _note_failure(self, remote_addr: str) -> None:
        now = time.monotonic()
        self._failed_at[remote_addr] = now
        self._failed_at.move_to_end(remote_addr)
        if len(self._failed_at) > MAX_NOTED_ADDRESSES:
            self._failed_at.popitem(last=False)
            # The dropped address may still be over its limit, so every
            # address is checked until its note would have expired.
            self._check_all_until = now + self.window_seconds

    def _failed_recently(self, remote_addr: str) -> bool:
        now = time.monotonic()
        if now < self._check_all_until:
            return True
        noted = self._failed_at.get(remote_addr)
        return noted is not None and now - noted < self.window_seconds
