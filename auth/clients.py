"""Registration of OAuth clients: ids, secrets, grant types and redirect URIs."""

from __future__ import annotations

import ipaddress
import re
import secrets
import string
import urllib.parse
from collections.abc import Iterable

from auth.revocation import (
    revoke_client_grants,
    revoke_client_tokens,
    revoke_user_tokens,
)
from auth.secrets import generate_token, keyed_digest
from models.base import database
from models.clients import (
    AUTHORIZATION_CODE,
    CLIENT_CREDENTIALS,
    CLIENT_TYPES,
    CONFIDENTIAL,
    GRANT_TYPES,
    PUBLIC,
    Client,
)
from models.consents import Consent
from models.users import User

#: Name of the stored key that client secret digests are computed with.
CLIENT_SECRET_KEY = "client_secret_key"  # noqa: S105 - a name, not a secret
CLIENT_ID_ALPHABET = string.ascii_letters + string.digits
MAX_REDIRECT_URIS = 20
MAX_REDIRECT_URI_LENGTH = 2000
# A client id made by generate_client_id, or one of the same alphabet.
CLIENT_ID_PATTERN = re.compile(r"[A-Za-z0-9_-]{16,64}")
# generate_token(32) makes 43 characters: 256 bits in URL-safe base64.
SECRET_PATTERN = re.compile(r"[A-Za-z0-9_-]{43,128}")


class ClientError(ValueError):
    """A client registration that the rules do not allow."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field
        self.message = message


def generate_client_id() -> str:
    """Return a new client id: 22 letters and digits, about 131 random bits.

    Letters and digits only, because an id that starts with "-", as a
    URL-safe base64 id can, reads as an option on the command line.
    """
    return "".join(secrets.choice(CLIENT_ID_ALPHABET) for _ in range(22))


def digest_secret(secret_key: str, client_secret: str) -> str:
    """Return the keyed SHA-256 digest under which a client secret is stored."""
    return keyed_digest(secret_key, client_secret)


def is_loopback_host(host: str) -> bool:
    """Return whether ``host`` is a loopback IP literal or ``localhost``."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def validate_redirect_uri(uri: str) -> None:
    """Raise :class:`ClientError` unless ``uri`` may be registered.

    RFC 9700 §2.1 and RFC 8252 §7.3: https anywhere, http only on loopback,
    an absolute URI without a fragment and without credentials.
    """
    if len(uri) > MAX_REDIRECT_URI_LENGTH:
        raise ClientError("redirect_uris", "a redirect URI is too long")
    if any(char.isspace() or ord(char) < 0x20 for char in uri):
        raise ClientError("redirect_uris", "a redirect URI contains white space")
    if not uri.isascii():
        raise ClientError(
            "redirect_uris",
            f"redirect URI {uri!r} is not ASCII: percent-encode other characters",
        )
    try:
        parsed = urllib.parse.urlsplit(uri)
        host = parsed.hostname or ""
        parsed.port  # noqa: B018 - raises ValueError on a bad port
    except ValueError:
        raise ClientError("redirect_uris", f"invalid redirect URI {uri!r}") from None
    if parsed.fragment or "#" in uri:
        raise ClientError("redirect_uris", f"redirect URI {uri!r} has a fragment")
    if parsed.username is not None or parsed.password is not None:
        raise ClientError("redirect_uris", f"redirect URI {uri!r} has credentials")
    if not host:
        raise ClientError("redirect_uris", f"redirect URI {uri!r} has no host")
    if parsed.scheme == "https":
        return
    if parsed.scheme == "http" and is_loopback_host(host):
        return
    raise ClientError(
        "redirect_uris",
        f"redirect URI {uri!r} must use https, or http on a loopback address",
    )


def clean_redirect_uris(uris: Iterable[str]) -> list[str]:
    """Strip, de-duplicate and validate redirect URIs, keeping their order."""
    cleaned: list[str] = []
    for uri in uris:
        uri = uri.strip()
        if uri and uri not in cleaned:
            validate_redirect_uri(uri)
            cleaned.append(uri)
    if len(cleaned) > MAX_REDIRECT_URIS:
        raise ClientError(
            "redirect_uris", f"at most {MAX_REDIRECT_URIS} redirect URIs are allowed"
        )
    return cleaned


def validate_client_fields(
    name: str,
    client_type: str,
    grant_types: list[str],
    redirect_uris: list[str],
    service_account: User | None,
) -> None:
    """Raise :class:`ClientError` for the first field that breaks a rule."""
    if not name.strip() or len(name) > 200:
        raise ClientError("name", "a name of 1 to 200 characters is required")
    if client_type not in CLIENT_TYPES:
        raise ClientError("client_type", "client type must be confidential or public")
    if not grant_types:
        raise ClientError("grant_types", "choose at least one grant type")
    for grant_type in grant_types:
        if grant_type not in GRANT_TYPES:
            raise ClientError("grant_types", f"unsupported grant type {grant_type!r}")
    if CLIENT_CREDENTIALS in grant_types:
        if client_type == PUBLIC:
            raise ClientError(
                "grant_types", "client credentials needs a confidential client"
            )
        if service_account is None:
            raise ClientError(
                "service_account", "client credentials needs a service account"
            )
    if service_account is not None and not service_account.is_service_account:
        raise ClientError(
            "service_account", f"{service_account.username!r} is not a service account"
        )
    if AUTHORIZATION_CODE in grant_types and not redirect_uris:
        raise ClientError(
            "redirect_uris", "authorization code needs at least one redirect URI"
        )


def create_client(
    secret_key: str,
    *,
    name: str,
    client_type: str = CONFIDENTIAL,
    grant_types: list[str],
    redirect_uris: Iterable[str] = (),
    service_account: User | None = None,
    created_by: User | None = None,
    is_resource_server: bool = False,
    client_id: str | None = None,
    client_secret: str | None = None,
) -> tuple[Client, str | None]:
    """Register a client; return it with its secret, which is stored only hashed.

    ``client_id`` and ``client_secret`` default to new random values; the
    admin pages pass the ones they generated and showed before saving.
    """
    uris = clean_redirect_uris(redirect_uris)
    grant_types = sorted(set(grant_types))
    validate_client_fields(name, client_type, grant_types, uris, service_account)
    if client_id is not None and not CLIENT_ID_PATTERN.fullmatch(client_id):
        raise ClientError("client_id", "invalid client id")
    if client_secret is not None and not SECRET_PATTERN.fullmatch(client_secret):
        raise ClientError("client_secret", "invalid client secret")

    if client_type != CONFIDENTIAL:
        client_secret = None
    elif client_secret is None:
        client_secret = generate_token(32)
    client = Client.create(
        client_id=client_id or generate_client_id(),
        secret_digest=digest_secret(secret_key, client_secret)
        if client_secret
        else None,
        name=name.strip(),
        client_type=client_type,
        grant_types=" ".join(grant_types),
        redirect_uris="\n".join(uris),
        service_account=service_account,
        created_by=created_by,
        is_resource_server=is_resource_server,
    )
    return client, client_secret


def update_client(
    client: Client,
    *,
    name: str,
    grant_types: list[str],
    redirect_uris: Iterable[str],
    service_account: User | None,
    is_resource_server: bool,
) -> int:
    """Change a client's settings; its id, type and secret stay.

    When the client stops acting as its service account (another account, or
    no client credentials grant), the tokens it got as that account are
    revoked. When it loses the authorization code grant, the codes and tokens
    that users granted it are revoked too. Returns how many were revoked.
    """
    uris = clean_redirect_uris(redirect_uris)
    grant_types = sorted(set(grant_types))
    validate_client_fields(name, client.client_type, grant_types, uris, service_account)
    old_account_id = client.service_account_id
    new_account_id = service_account.id if service_account is not None else None
    # The service account the client stops acting as, if any.
    left_account_id = (
        old_account_id
        if old_account_id != new_account_id or CLIENT_CREDENTIALS not in grant_types
        else None
    )
    # Without the grant, the users' refresh tokens must not come back to life
    # if it is allowed again later.
    stops_code_grant = (
        AUTHORIZATION_CODE in client.grant_type_list
        and AUTHORIZATION_CODE not in grant_types
    )
    with database.atomic():
        client.name = name.strip()
        client.grant_types = " ".join(grant_types)
        client.redirect_uris = "\n".join(uris)
        client.service_account = service_account
        client.is_resource_server = is_resource_server
        client.save()
        revoked = 0
        if left_account_id is not None:
            revoked += revoke_user_tokens(left_account_id, client.client_id).total
        if stops_code_grant:
            revoked += revoke_client_grants(client.client_id).total
        return revoked


def rotate_client_secret(secret_key: str, client: Client) -> str:
    """Give ``client`` a new secret; the old one stops working at once."""
    if not client.is_confidential:
        raise ClientError("client_type", "a public client has no secret")
    client_secret = generate_token(32)
    client.secret_digest = digest_secret(secret_key, client_secret)
    client.save()
    return client_secret


def delete_client(client: Client) -> int:
    """Delete ``client`` and revoke its tokens; return how many were revoked.

    The client's consents go with it, and its codes and refresh tokens can
    no longer be redeemed.
    """
    with database.atomic():
        revoked = revoke_client_tokens(client.client_id).total
        Consent.delete().where(Consent.client == client.id).execute()
        client.delete_instance()
    return revoked
