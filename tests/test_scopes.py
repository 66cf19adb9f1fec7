"""Scopes: ``integration:NAME`` tokens, parsing and formatting (RFC 6749 §3.3)."""

from __future__ import annotations

import pytest

from auth.errors import InvalidRequestError, InvalidScopeError
from auth.scopes import (
    MAX_SCOPE_LENGTH,
    format_scope,
    integration_scope,
    integrations_in_scope,
    parse_scope,
)


@pytest.mark.parametrize("scope", [None, "", "   "])
def test_parse_omitted_scope(scope: str | None) -> None:
    assert parse_scope(scope) is None


def test_parse_splits_on_spaces() -> None:
    assert parse_scope(" integration:echo  integration:crm ") == frozenset(
        {"integration:echo", "integration:crm"}
    )


def test_parse_drops_repeated_tokens() -> None:
    assert parse_scope("integration:echo integration:echo") == frozenset(
        {"integration:echo"}
    )


@pytest.mark.parametrize("scope", ['integration:"echo"', "integration:\\echo", "ä"])
def test_parse_rejects_characters_outside_rfc(scope: str) -> None:
    with pytest.raises(InvalidScopeError) as caught:
        parse_scope(scope)

    assert caught.value.error == "invalid_scope"
    assert caught.value.status_code == 400


def test_parse_rejects_tab_inside_token() -> None:
    with pytest.raises(InvalidScopeError):
        parse_scope("integration:echo\tintegration:crm")


def test_parse_rejects_overlong_scope() -> None:
    with pytest.raises(InvalidRequestError) as caught:
        parse_scope("integration:a " * (MAX_SCOPE_LENGTH // 10))

    assert caught.value.error == "invalid_request"


def test_integrations_in_scope() -> None:
    scopes = frozenset({"integration:echo", "integration:crm-sync"})

    assert integrations_in_scope(scopes) == {"echo", "crm-sync"}


@pytest.mark.parametrize(
    "token",
    [
        "read",
        "integration:",
        "integration:Echo",
        "integration:-echo",
        "integration:echo\n",
        "echo",
    ],
)
def test_integrations_in_scope_rejects_unknown_token(token: str) -> None:
    with pytest.raises(InvalidScopeError):
        integrations_in_scope(frozenset({token}))


def test_integration_scope_and_format_round_trip() -> None:
    scope = format_scope({integration_scope("zeta"), integration_scope("alpha")})

    assert scope == "integration:alpha integration:zeta"
    assert parse_scope(scope) == frozenset({"integration:alpha", "integration:zeta"})
