"""Fixtures of the page tests: browser-like clients, logged in or not."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import pytest

from models.users import STAFF, User
from tests.conftest import PASSWORD
from tests.pages import PageClient


@pytest.fixture
def pages(app, http_client, base_url) -> PageClient:
    """A client with no session yet."""
    return PageClient(http_client, base_url)


@pytest.fixture
def staff_user(make_user: Callable[..., User]) -> User:
    return make_user("sam", STAFF)


@pytest.fixture
def login_as(app, http_client, base_url) -> Callable[[str], Awaitable[PageClient]]:
    """Return a coroutine function that logs a new client in as a username."""

    async def login(username: str, password: str = PASSWORD) -> PageClient:
        client = PageClient(http_client, base_url)
        await client.login(username, password)
        return client

    return login
