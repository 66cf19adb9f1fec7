"""OAuth clients: the applications that request tokens from the gateway."""

from __future__ import annotations

import peewee

from models.base import BaseModel, utcnow
from models.prepared import PreparedQuery, build_instance, param
from models.users import User

CONFIDENTIAL = "confidential"
PUBLIC = "public"
CLIENT_TYPES = (CONFIDENTIAL, PUBLIC)

AUTHORIZATION_CODE = "authorization_code"
CLIENT_CREDENTIALS = "client_credentials"
REFRESH_TOKEN = "refresh_token"  # noqa: S105 - a grant type
GRANT_TYPES = (AUTHORIZATION_CODE, CLIENT_CREDENTIALS)


class Client(BaseModel):
    id: peewee.AutoField[int]
    client_id = peewee.CharField(max_length=64, unique=True)
    # Keyed SHA-256 of the secret (see auth.secrets); None for public clients.
    secret_digest = peewee.CharField(max_length=64, null=True)
    name = peewee.CharField(max_length=200)
    client_type = peewee.CharField(max_length=20, default=CONFIDENTIAL)
    # Space-separated grant types, as in RFC 7591 metadata.
    grant_types = peewee.CharField(max_length=200)
    # One redirect URI per line.
    redirect_uris = peewee.TextField(default="")
    service_account = peewee.ForeignKeyField(
        User, null=True, backref="clients", on_delete="SET NULL"
    )
    service_account_id: int | None
    created_by = peewee.ForeignKeyField(
        User, null=True, backref="created_clients", on_delete="SET NULL"
    )
    created_by_id: int | None
    created_at = peewee.DateTimeField(default=utcnow)
    is_resource_server = peewee.BooleanField(default=False)

    class Meta:
        track_changes = True

    @property
    def grant_type_list(self) -> list[str]:
        return self.grant_types.split()

    @property
    def redirect_uri_list(self) -> list[str]:
        return [uri for uri in self.redirect_uris.splitlines() if uri]

    @property
    def is_confidential(self) -> bool:
        return self.client_type == CONFIDENTIAL

    def allows_grant(self, grant_type: str) -> bool:
        if grant_type == REFRESH_TOKEN:
            return AUTHORIZATION_CODE in self.grant_type_list
        return grant_type in self.grant_type_list


_CLIENT_FIELDS = Client._meta.sorted_fields
_ACCOUNT_FIELDS = User._meta.sorted_fields
_CLIENT_WITH_ACCOUNT = PreparedQuery(
    lambda: (
        Client.select(*_CLIENT_FIELDS, *_ACCOUNT_FIELDS)
        .join(User, peewee.JOIN.LEFT_OUTER, on=(Client.service_account == User.id))
        .where(Client.client_id == param("client_id"))
    )
)


def query_client(client_id: str) -> Client | None:
    """Return the client with ``client_id`` and its service account, or None.

    The token endpoint calls this on every request, so it uses SQL compiled
    once and loads the service account in the same query.
    """
    row = _CLIENT_WITH_ACCOUNT.first(client_id=client_id)
    if row is None:
        return None
    split = len(_CLIENT_FIELDS)
    client: Client = build_instance(Client, _CLIENT_FIELDS, row[:split])
    if row[split] is not None:
        client.service_account = build_instance(User, _ACCOUNT_FIELDS, row[split:])
        client._dirty.clear()
    return client


def query_clients() -> list[Client]:
    """Return every client with its service account, ordered by name."""
    service_account = User.alias()
    query = (
        Client.select(Client, service_account)
        .join(
            service_account,
            peewee.JOIN.LEFT_OUTER,
            on=(Client.service_account == service_account.id),
        )
        .order_by(Client.name, Client.id)
    )
    return list(query)
