"""Client secret rotations made on the admin pages, recorded by form nonce.

The application page puts a single-use nonce into its New secret form. The
row stored with the rotation makes a second submission of the same form, such
as a reload of the page that showed the secret, rotate nothing.
"""

from __future__ import annotations

import datetime

import peewee

from models.base import BaseModel, utcnow
from models.clients import Client

#: A form nonce is accepted this long after its page was shown. A row older
#: than that can no longer match an accepted form, so housekeeping deletes it.
NONCE_LIFETIME_DAYS = 1


class SecretRotation(BaseModel):
    id: peewee.AutoField[int]
    # The random part of the form nonce. It is not a credential, because
    # posting it still needs a staff session and the xsrf token.
    nonce = peewee.CharField(max_length=64, unique=True)
    client = peewee.ForeignKeyField(
        Client, backref="secret_rotations", on_delete="CASCADE"
    )
    client_id: int
    # The username of the staff member, as the audit trail names actors.
    rotated_by = peewee.CharField(max_length=150)
    rotated_at = peewee.DateTimeField(default=utcnow, index=True)


def query_secret_rotation(nonce: str) -> SecretRotation | None:
    """Return the rotation made with form nonce ``nonce``, or None."""
    return SecretRotation.get_or_none(SecretRotation.nonce == nonce)


def delete_old_secret_rotations(before: datetime.datetime, limit: int = 500) -> int:
    """Delete up to ``limit`` rotation rows made before ``before``."""
    return SecretRotation.delete_batch(SecretRotation.rotated_at < before, limit)
