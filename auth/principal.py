"""The principal: the user or service account a request's credentials name."""

from __future__ import annotations

import dataclasses

BASIC = "basic"
BEARER = "bearer"


@dataclasses.dataclass(frozen=True)
class Principal:
    """A user or service account as seen by one request."""

    user_id: int
    username: str
    #: ``standard``, ``staff`` or ``service_account``.
    kind: str
    #: ``basic`` or ``bearer``.
    auth_method: str
    #: The OAuth client behind a bearer token; None for Basic.
    client_id: str | None = None
    #: Scopes of a bearer token; None for Basic, where the user's own
    #: permissions apply in full.
    scopes: frozenset[str] | None = None
    #: ``jti`` of the bearer token, for the log and the audit trail.
    token_id: str | None = None

    def to_dict(self) -> dict[str, object]:
        """Return the fields a plugin's caller may see."""
        return {
            "username": self.username,
            "kind": self.kind,
            "auth_method": self.auth_method,
            "client_id": self.client_id,
            "scopes": sorted(self.scopes) if self.scopes is not None else None,
        }
