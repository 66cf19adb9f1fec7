"""Client addresses from which a username authenticated with its password.

The Basic throttle (:mod:`auth.basic_auth`) counts failed attempts from a known
address apart from those of unknown addresses, so that failures elsewhere
cannot lock a partner system out of its own service account.
"""

from __future__ import annotations

import datetime

import peewee

from models.base import BaseModel, utcnow


class KnownAddress(BaseModel):
    id: peewee.AutoField[int]
    username = peewee.CharField(max_length=150)
    remote_addr = peewee.CharField(max_length=64)
    last_success_at = peewee.DateTimeField(default=utcnow, index=True)

    class Meta:
        indexes = ((("username", "remote_addr"), True),)


def remember_known_address(username: str, remote_addr: str) -> None:
    """Record a password verified for ``username`` from ``remote_addr`` just now."""
    now = utcnow()
    (
        KnownAddress.insert(
            username=username[:150], remote_addr=remote_addr[:64], last_success_at=now
        )
        .on_conflict(
            conflict_target=[KnownAddress.username, KnownAddress.remote_addr],
            update={KnownAddress.last_success_at: now},
        )
        .execute()
    )


def check_known_address(
    username: str, remote_addr: str, since: datetime.datetime
) -> bool:
    """Return whether ``username`` authenticated from the address after ``since``."""
    return bool(
        KnownAddress.select()
        .where(
            KnownAddress.username == username[:150],
            KnownAddress.remote_addr == remote_addr[:64],
            KnownAddress.last_success_at > since,
        )
        .exists()
    )


def delete_old_known_addresses(before: datetime.datetime, limit: int = 500) -> int:
    """Delete up to ``limit`` addresses last used before ``before``."""
    return KnownAddress.delete_batch(KnownAddress.last_success_at < before, limit)
