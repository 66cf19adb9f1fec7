"""Consents: the scope a user approved for a client, remembered per pair."""

from __future__ import annotations

import peewee

from models.base import BaseModel, utcnow
from models.clients import Client
from models.users import User


class Consent(BaseModel):
    id: peewee.AutoField[int]
    user = peewee.ForeignKeyField(User, backref="consents", on_delete="CASCADE")
    user_id: int
    client = peewee.ForeignKeyField(Client, backref="consents", on_delete="CASCADE")
    client_id: int
    # Space-separated scope tokens, the union of every approval.
    scope = peewee.TextField(default="")
    created_at = peewee.DateTimeField(default=utcnow)
    updated_at = peewee.DateTimeField(default=utcnow)

    class Meta:
        indexes = ((("user", "client"), True),)

    @property
    def scopes(self) -> frozenset[str]:
        return frozenset(self.scope.split())


def query_consent(user_id: int, client_id: int) -> Consent | None:
    """Return the consent of the user for the client (by row id), or None."""
    return Consent.get_or_none(
        (Consent.user == user_id) & (Consent.client == client_id)
    )
