"""Parallel redemption of one code or refresh token: exactly one wins.

Each thread has its own database connection (peewee keeps one per thread),
so the requests really race in the database, as they would across several
gateway processes.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from typing import Any

import pytest

from auth.errors import InvalidGrantError, OAuthError
from handlers.gateway import Gateway
from models.base import database
from models.clients import Client
from models.tokens import AccessToken
from models.users import User
from tests.conftest import basic_header
from tests.oauth_support import code_form, issue_code

RACERS = 4


def race(gateway: Gateway, form: dict[str, str], authorization: str) -> list[Any]:
    """Send ``form`` to the token endpoint from several threads at once."""
    barrier = threading.Barrier(RACERS)
    results: list[Any] = [None] * RACERS

    def run(index: int) -> None:
        barrier.wait()
        try:
            results[index] = asyncio.run(
                gateway.token_endpoint.create_token_response(form, authorization)
            )
        except OAuthError as error:
            results[index] = error
        finally:
            database.close()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(RACERS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    return results


def split(results: list[Any]) -> tuple[list[dict[str, Any]], list[OAuthError]]:
    wins = [result for result in results if isinstance(result, dict)]
    losses = [result for result in results if isinstance(result, OAuthError)]
    assert len(wins) + len(losses) == RACERS, results
    return wins, losses


def test_parallel_code_redemption_has_one_winner(
    gateway: Gateway, ac_client: tuple[Client, str], standard_user: User
) -> None:
    client, secret = ac_client
    form = code_form(issue_code(gateway, client, standard_user))

    wins, losses = split(race(gateway, form, basic_header(client.client_id, secret)))

    assert len(wins) == 1
    assert all(isinstance(error, InvalidGrantError) for error in losses)
    # The losers count as a replay, so the winner's tokens are revoked too.
    assert AccessToken.select().count() == 1
    assert AccessToken.select().where(AccessToken.revoked_at.is_null()).count() == 0


@pytest.fixture
def refresh_token(
    gateway: Gateway, ac_client: tuple[Client, str], standard_user: User
) -> Callable[[], str]:
    client, secret = ac_client

    def issue() -> str:
        form = code_form(issue_code(gateway, client, standard_user))
        body = asyncio.run(
            gateway.token_endpoint.create_token_response(
                form, basic_header(client.client_id, secret)
            )
        )
        return str(body["refresh_token"])

    return issue


def test_parallel_refresh_has_one_winner(
    gateway: Gateway,
    ac_client: tuple[Client, str],
    refresh_token: Callable[[], str],
) -> None:
    client, secret = ac_client
    form = {"grant_type": "refresh_token", "refresh_token": refresh_token()}

    wins, losses = split(race(gateway, form, basic_header(client.client_id, secret)))

    assert len(wins) == 1
    assert all(isinstance(error, InvalidGrantError) for error in losses)
