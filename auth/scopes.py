"""Scopes: ``integration:NAME`` grants the right to execute one integration.

A token's effective permission is the principal's own permission narrowed by
the token's scope, so a scope never adds a permission the user lacks.
"""

from __future__ import annotations

import re

from auth.errors import InvalidRequestError, InvalidScopeError

INTEGRATION_PREFIX = "integration:"
# RFC 6749 §3.3: scope-token = 1*( %x21 / %x23-5B / %x5D-7E )
_SCOPE_TOKEN = re.compile(r"^[\x21\x23-\x5b\x5d-\x7e]+\Z")
_INTEGRATION_NAME = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,62}[a-z0-9])?\Z")
MAX_SCOPE_LENGTH = 4096


def parse_scope(scope: str | None) -> frozenset[str] | None:
    """Split a scope parameter into its tokens; None or empty gives None."""
    if scope is None or not scope.strip(" "):
        return None
    if len(scope) > MAX_SCOPE_LENGTH:
        raise InvalidRequestError("The scope parameter is too long.")
    tokens = [token for token in scope.split(" ") if token]
    for token in tokens:
        if not _SCOPE_TOKEN.match(token):
            raise InvalidScopeError("The scope contains invalid characters.")
    return frozenset(tokens)


def integration_scope(name: str) -> str:
    """Return the scope that allows executing integration ``name``."""
    return INTEGRATION_PREFIX + name


def integrations_in_scope(scopes: frozenset[str]) -> set[str]:
    """Return the integration names that ``scopes`` allow, rejecting unknown scopes."""
    names = set()
    for token in scopes:
        name = token.removeprefix(INTEGRATION_PREFIX)
        if name == token or not _INTEGRATION_NAME.match(name):
            raise InvalidScopeError("The scope names an unknown scope value.")
        names.add(name)
    return names


def format_scope(scopes: frozenset[str] | set[str]) -> str:
    """Join scope tokens in a stable order."""
    return " ".join(sorted(scopes))
