"""Gateway state kept in the database: named secrets and the signing keys."""

from __future__ import annotations

import secrets

import peewee

from models.base import BaseModel, database, utcnow


class GatewayState(BaseModel):
    name = peewee.CharField(max_length=64, primary_key=True)
    value = peewee.TextField()


class SigningKey(BaseModel):
    id: peewee.AutoField[int]
    kid = peewee.CharField(max_length=64, unique=True)
    algorithm = peewee.CharField(max_length=16)
    # NOTE: the private key is stored unencrypted, because the database is the
    # only persistent store the gateway has; protect database access and backups.
    private_pem = peewee.TextField()
    created_at = peewee.DateTimeField(default=utcnow)
    # Set when a newer key takes over signing; the key then only verifies.
    retired_at = peewee.DateTimeField(null=True)


def query_state(name: str) -> str | None:
    """Return the stored value called ``name``, or None."""
    row = GatewayState.get_or_none(GatewayState.name == name)
    return row.value if row else None


def set_state(name: str, value: str) -> None:
    """Store ``value`` under ``name``, replacing any earlier value."""
    with database.atomic():
        updated = (
            GatewayState.update(value=value).where(GatewayState.name == name).execute()
        )
        if not updated:
            GatewayState.create(name=name, value=value)


def ensure_secret(name: str, num_bytes: int = 32) -> str:
    """Return the secret called ``name``, generating and storing it on first use."""
    existing = query_state(name)
    if existing is not None:
        return existing
    candidate = secrets.token_urlsafe(num_bytes)
    # Two processes starting together must end up with the same secret.
    GatewayState.insert(name=name, value=candidate).on_conflict_ignore().execute()
    stored = query_state(name)
    if stored is None:
        raise RuntimeError(f"secret {name!r} could not be stored")
    return stored
