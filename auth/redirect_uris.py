"""Matching a requested redirect URI against the client's registered ones.

RFC 9700 §4.1.3 requires exact string comparison. The one exception is the
port of a loopback IP literal (RFC 8252 §7.3): a native app listens on a port
the operating system picks, so ``http://127.0.0.1/cb`` registered matches
``http://127.0.0.1:51004/cb`` requested. ``localhost`` gets no exception,
because RFC 8252 §8.3 advises against it.
"""

from __future__ import annotations

import ipaddress
import re

from auth.errors import InvalidRedirectUriError
from models.clients import Client

_PORT = re.compile(r":[0-9]{1,5}")


def check_uri_characters(uri: str) -> bool:
    """Return whether ``uri`` is free of white space and control characters.

    No registered URI contains them, and a match that ignored them could put
    a line break into the ``Location`` header of the redirect.
    """
    return not any(char.isspace() or not char.isprintable() for char in uri)


def _split_loopback_port(uri: str) -> tuple[str, int | None] | None:
    """Split an ``http`` URI on a loopback IP literal into its text and port.

    The text is ``uri`` with the port removed and nothing else changed.
    Returns None for any other URI, so that only exact comparison applies.
    """
    scheme, separator, rest = uri.partition("://")
    if scheme != "http" or not separator:
        return None
    authority_end = len(rest)
    for delimiter in "/?#":
        position = rest.find(delimiter)
        if position != -1:
            authority_end = min(authority_end, position)
    authority, tail = rest[:authority_end], rest[authority_end:]
    if "@" in authority:
        return None

    if authority.startswith("["):
        host, bracket, port_text = authority[1:].partition("]")
        if not bracket:
            return None
        host_text = f"[{host}]"
    else:
        host, colon, digits = authority.partition(":")
        port_text = colon + digits
        host_text = host
    port = None
    if port_text:
        if not _PORT.fullmatch(port_text) or not 0 < int(port_text[1:]) < 65536:
            return None
        port = int(port_text[1:])

    try:
        if not ipaddress.ip_address(host).is_loopback:
            return None
    except ValueError:
        return None
    return f"{scheme}://{host_text}{tail}", port


def check_redirect_uri(registered: str, requested: str) -> bool:
    """Return whether ``requested`` matches the ``registered`` redirect URI."""
    if requested == registered:
        return True
    if not check_uri_characters(requested):
        return False
    registered_parts = _split_loopback_port(registered)
    requested_parts = _split_loopback_port(requested)
    if registered_parts is None or requested_parts is None:
        return False
    # Apart from the port, the URIs must agree character for character.
    return registered_parts[0] == requested_parts[0]


def resolve_redirect_uri(client: Client, requested: str | None) -> str:
    """Return the redirect URI to use, or raise :class:`InvalidRedirectUriError`.

    Without a requested URI the client must have exactly one registered.
    """
    registered = client.redirect_uri_list
    if requested is None:
        if len(registered) == 1:
            return registered[0]
        if not registered:
            raise InvalidRedirectUriError(
                "The client has no registered redirect URI.",
                log_detail="no redirect URI registered",
            )
        raise InvalidRedirectUriError(
            "The request must name one of the client's redirect URIs.",
            log_detail="redirect_uri missing, several registered",
        )
    if not check_uri_characters(requested):
        raise InvalidRedirectUriError(
            "The redirect URI contains white space or control characters.",
            log_detail="redirect_uri has white space or control characters",
        )
    for uri in registered:
        if check_redirect_uri(uri, requested):
            return requested
    raise InvalidRedirectUriError(
        "The redirect URI is not registered for this client.",
        log_detail="redirect_uri does not match",
    )
