"""Checking a username and password, with bcrypt kept off the event loop."""

from __future__ import annotations

import datetime

from auth.credential_cache import CredentialCache
from auth.passwords import PasswordHasher
from models.base import utcnow
from models.users import User, query_user

# last_used_at is written at most this often per user, to keep writes off the
# hot path.
LAST_USED_RESOLUTION = datetime.timedelta(seconds=60)
MAX_USERNAME_LENGTH = 150


class BusyError(Exception):
    """Too many password checks are already waiting for a thread."""


class UserAuthenticator:
    """Verifies passwords, remembering verified Basic credentials in memory."""

    def __init__(
        self, hasher: PasswordHasher, cache: CredentialCache, max_pending: int
    ) -> None:
        self.hasher = hasher
        self.cache = cache
        # Bounds the queue of bcrypt checks, so that a flood of wrong passwords
        # is answered at once instead of growing the queue without limit.
        self.max_pending = max_pending
        self.pending = 0

    async def authenticate(self, username: str, password: str) -> User | None:
        """Return the active user with this password, or None.

        Raises :class:`BusyError` when ``max_pending`` checks are waiting.
        """
        user = query_user(username) if len(username) <= MAX_USERNAME_LENGTH else None
        digest = self.cache.digest(username, password)
        if (
            user is not None
            and user.is_active
            and self.cache.check(digest, user.id, user.credential_version)
        ):
            return user

        if self.pending >= self.max_pending:
            raise BusyError()
        self.pending += 1
        try:
            # An unknown user is checked against a dummy hash, so it costs the
            # same time as a wrong password.
            matched = await self.hasher.check(
                password, user.password_hash if user else None
            )
        finally:
            self.pending -= 1

        if not matched or user is None or not user.is_active:
            return None
        self.cache.remember(digest, user.id, user.credential_version)
        return user


def touch_last_used(user_id: int, last_used_at: datetime.datetime | None) -> None:
    """Record that the user was just used, at most once a minute."""
    now = utcnow()
    if last_used_at is None or now - last_used_at > LAST_USED_RESOLUTION:
        User.update(last_used_at=now).where(User.id == user_id).execute()
