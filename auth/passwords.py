"""Password hashing with bcrypt, run in a thread pool off the event loop.

bcrypt reads at most 72 bytes, so the password is first reduced to the base64
of its SHA-256 (44 bytes). Long passwords then differ in every byte, and a NUL
byte in a password cannot end it early.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import secrets
from concurrent.futures import Executor

import bcrypt

MIN_PASSWORD_LENGTH = 8
MAX_PASSWORD_LENGTH = 1024


class PasswordError(ValueError):
    """A new password does not meet the rules."""


def validate_new_password(password: str) -> None:
    """Raise :class:`PasswordError` unless ``password`` is acceptable."""
    if len(password) < MIN_PASSWORD_LENGTH:
        raise PasswordError(
            f"password is too short: use at least {MIN_PASSWORD_LENGTH} characters"
        )
    if len(password) > MAX_PASSWORD_LENGTH:
        raise PasswordError(
            f"password is too long: use at most {MAX_PASSWORD_LENGTH} characters"
        )


def generate_password() -> str:
    """Return a random password for a service account (256 bits)."""
    return secrets.token_urlsafe(32)


def _prehash(password: str) -> bytes:
    digest = hashlib.sha256(password.encode("utf-8", "surrogatepass")).digest()
    return base64.b64encode(digest)


class PasswordHasher:
    """Hashes and checks passwords with bcrypt in ``executor``."""

    def __init__(self, rounds: int, executor: Executor | None = None) -> None:
        self.rounds = rounds
        self.executor = executor
        # Checked against when the user does not exist, so that an unknown
        # username costs the same time as a wrong password.
        self._dummy_hash = self.hash_now(secrets.token_urlsafe(16))

    def hash_now(self, password: str) -> str:
        """Hash ``password`` on the calling thread; for the CLI and start-up."""
        salt = bcrypt.gensalt(rounds=self.rounds)
        return bcrypt.hashpw(_prehash(password), salt).decode("ascii")

    def check_now(self, password: str, password_hash: str | None) -> bool:
        """Check ``password`` on the calling thread; None checks a dummy hash."""
        stored = (password_hash or self._dummy_hash).encode("ascii")
        try:
            matched = bcrypt.checkpw(_prehash(password), stored)
        except ValueError:
            # A malformed stored hash never matches.
            return False
        return matched and password_hash is not None

    async def hash(self, password: str) -> str:
        """Hash ``password`` in the thread pool."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self.executor, self.hash_now, password)

    async def check(self, password: str, password_hash: str | None) -> bool:
        """Check ``password`` in the thread pool; None checks a dummy hash."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(
            self.executor, self.check_now, password, password_hash
        )
