"""Remembered approvals: which scope a user approved for which client.

An approval covers later requests of the same client for the same scope or
less. A request for more shows the consent page again. Revoking an authorization
forgets the approval and ends every code and token of that user and client.
"""

from __future__ import annotations

import dataclasses
import datetime
import logging

import peewee

from auth.revocation import RevokedCounts, revoke_user_tokens
from auth.scopes import format_scope
from models.base import database, utcnow
from models.clients import Client
from models.consents import Consent, query_consent
from models.users import User

log = logging.getLogger("integration_gateway.auth.consents")


@dataclasses.dataclass(frozen=True)
class Authorization:
    """A client the user approved, for the user's own page."""

    client_id: str
    client_name: str
    scopes: list[str]
    approved_at: datetime.datetime


def check_consent(user: User, client: Client, scopes: frozenset[str]) -> bool:
    """Return whether ``user`` already approved ``scopes`` for ``client``."""
    consent = query_consent(user.id, client.id)
    return consent is not None and scopes <= consent.scopes


def remember_consent(user: User, client: Client, scopes: frozenset[str]) -> None:
    """Add ``scopes`` to what ``user`` approved for ``client``."""
    now = utcnow()
    with database.atomic():
        consent = query_consent(user.id, client.id)
        if consent is None:
            try:
                with database.atomic():
                    Consent.create(
                        user=user,
                        client=client,
                        scope=format_scope(scopes),
                        created_at=now,
                        updated_at=now,
                    )
                return
            except peewee.IntegrityError:
                # A parallel approval inserted the row first; add to it.
                consent = query_consent(user.id, client.id)
                if consent is None:
                    raise
        consent.scope = format_scope(consent.scopes | scopes)
        consent.updated_at = now
        consent.save()


def query_authorizations(user: User) -> list[Authorization]:
    """Return the clients ``user`` approved, most recent approval first."""
    rows = (
        Consent.select(Consent, Client)
        .join(Client)
        .where(Consent.user == user.id)
        .order_by(Consent.updated_at.desc())
    )
    return [
        Authorization(
            client_id=row.client.client_id,
            client_name=row.client.name,
            scopes=sorted(row.scopes),
            approved_at=row.updated_at,
        )
        for row in rows
    ]


def revoke_authorization(user: User, client: Client) -> RevokedCounts:
    """Forget ``user``'s approval of ``client`` and end its codes and tokens."""
    with database.atomic():
        Consent.delete().where(
            (Consent.user == user.id) & (Consent.client == client.id)
        ).execute()
        counts = revoke_user_tokens(user.id, client.client_id)
    log.info(
        "authorization revoked: user=%s client_id=%s, %d tokens revoked",
        user.username,
        client.client_id,
        counts.total,
    )
    return counts
