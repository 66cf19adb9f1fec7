"""Throttling of failed logins, per username and per client address.

After ``max_failures`` failures within ``window_seconds``, further attempts
are rejected with 429 until the oldest of those failures leaves the window.
Three counts apply:

- per client address, whatever username was tried, which stops one source
  from guessing many passwords;
- per username, over attempts from unknown browsers, which stops guessing
  one password from many addresses;
- per device cookie, over attempts from a browser that once logged in as
  that username.

A per-username limit alone would let anyone lock a person out by failing on
purpose. With device cookies an attacker exhausts only the count of unknown
browsers, and the person keeps logging in from their own browser. This is the
scheme of https://owasp.org/www-community/Slow_Down_Online_Guessing_Attacks_with_Device_Cookies
"""

from __future__ import annotations

import dataclasses
import datetime
import math

import peewee

from models.base import utcnow
from models.login_failures import (
    LoginFailure,
    delete_login_failure,
    query_failure_times,
    record_login_failure,
)


@dataclasses.dataclass(frozen=True)
class LoginAttempt:
    username: str
    remote_addr: str
    #: Id of a valid device cookie issued for this username, or None.
    device_id: str | None


class LoginThrottle:
    """Counts failed logins in the database and decides when to reject one."""

    def __init__(self, max_failures: int, window_seconds: int) -> None:
        self.max_failures = max_failures
        self.window = datetime.timedelta(seconds=window_seconds)

    def check_retry_after(self, attempt: LoginAttempt) -> int | None:
        """Return the seconds to wait before ``attempt`` may run, or None."""
        waits = [
            self.check_address_retry_after(attempt.remote_addr),
            self.check_account_retry_after(attempt),
        ]
        known = [wait for wait in waits if wait is not None]
        return max(known) if known else None

    def check_address_retry_after(self, remote_addr: str) -> int | None:
        """Return the seconds until ``remote_addr`` may try again, or None."""
        return self._check_count(LoginFailure.remote_addr == remote_addr[:64])

    def check_account_retry_after(self, attempt: LoginAttempt) -> int | None:
        """Return the seconds until the username may be tried again, or None.

        Failures from the attempt's device count apart from those of unknown
        devices.
        """
        if attempt.device_id is None:
            condition = (LoginFailure.username == attempt.username[:150]) & (
                LoginFailure.device_id.is_null()
            )
        else:
            condition = LoginFailure.device_id == attempt.device_id
        return self._check_count(condition)

    def _check_count(self, condition: peewee.Expression) -> int | None:
        now = utcnow()
        times = query_failure_times(now - self.window, self.max_failures, condition)
        return self._seconds_until_free(times, now)

    def _seconds_until_free(
        self, times: list[datetime.datetime], now: datetime.datetime
    ) -> int | None:
        if len(times) < self.max_failures:
            return None
        # The oldest of the newest max_failures failures frees a slot when it
        # leaves the window.
        free_at = times[self.max_failures - 1] + self.window
        return max(1, math.ceil((free_at - now).total_seconds()))

    def record_failure(self, attempt: LoginAttempt) -> int:
        """Count ``attempt`` as failed; return the id for :meth:`forget_failure`."""
        return record_login_failure(
            attempt.username, attempt.remote_addr, attempt.device_id
        )

    def forget_failure(self, failure_id: int) -> None:
        """Take back a failure recorded before the attempt succeeded."""
        delete_login_failure(failure_id)
