"""Memory of Basic credentials that bcrypt already verified.

Entries are keyed by an HMAC of the username and password under a key made for
this process, so the memory never holds a password or a hash that could be
attacked offline. An entry also stores the user's ``credential_version``: a
password change or a deactivation raises that version in the database, and the
next request, which reads the user row anyway, no longer matches the entry.
This makes such changes take effect at once in every process.
"""

from __future__ import annotations

import collections
import hmac
import secrets
import time


class CredentialCache:
    """A bounded, expiring map from credential digests to user versions."""

    def __init__(self, lifetime_seconds: float, max_entries: int = 10_000) -> None:
        self.lifetime_seconds = lifetime_seconds
        self.max_entries = max_entries
        self._key = secrets.token_bytes(32)
        self._entries: collections.OrderedDict[bytes, tuple[int, int, float]] = (
            collections.OrderedDict()
        )

    def digest(self, username: str, password: str) -> bytes:
        """Return the key under which this credential is remembered."""
        message = username.encode("utf-8", "surrogatepass") + b"\x00"
        message += password.encode("utf-8", "surrogatepass")
        return hmac.digest(self._key, message, "sha256")

    def check(self, digest: bytes, user_id: int, credential_version: int) -> bool:
        """Return whether ``digest`` was verified for this user at this version."""
        entry = self._entries.get(digest)
        if entry is None:
            return False
        cached_user_id, cached_version, expires_at = entry
        if expires_at < time.monotonic():
            del self._entries[digest]
            return False
        return cached_user_id == user_id and cached_version == credential_version

    def remember(self, digest: bytes, user_id: int, credential_version: int) -> None:
        """Remember that ``digest`` was verified for this user at this version."""
        if self.lifetime_seconds <= 0:
            return
        expires_at = time.monotonic() + self.lifetime_seconds
        self._entries[digest] = (user_id, credential_version, expires_at)
        self._entries.move_to_end(digest)
        while len(self._entries) > self.max_entries:
            self._entries.popitem(last=False)

    def forget_user(self, user_id: int) -> None:
        """Drop every entry of ``user_id``."""
        stale = [key for key, entry in self._entries.items() if entry[0] == user_id]
        for key in stale:
            del self._entries[key]

    def __len__(self) -> int:
        return len(self._entries)
