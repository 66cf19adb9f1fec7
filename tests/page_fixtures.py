"""Fixtures of the page tests: browser-like clients and headless Chromium."""

from __future__ import annotations

import os
from collections.abc import Awaitable, Callable, Iterator
from typing import Any

import pytest

from models.users import STAFF, User
from tests.conftest import PASSWORD
from tests.pages import CHROMIUM, CHROMIUM_ARGS, PageClient


@pytest.fixture
def pages(http_client, base_url) -> PageClient:
    """A client with no session yet."""
    return PageClient(http_client, base_url)


@pytest.fixture
def staff_user(make_user: Callable[..., User]) -> User:
    return make_user("sam", STAFF)


@pytest.fixture
def login_as(http_client, base_url) -> Callable[[str], Awaitable[PageClient]]:
    """Return a coroutine function that logs a new client in as a username."""

    async def login(username: str, password: str = PASSWORD) -> PageClient:
        client = PageClient(http_client, base_url)
        await client.login(username, password)
        return client

    return login


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """A headless Chromium, or a skip (a failure when the browser is required)."""
    if not CHROMIUM.exists():
        reason = f"{CHROMIUM} is missing: install Debian's chromium package"
        if os.environ.get("GATEWAY_REQUIRE_BROWSER") == "1":
            pytest.fail(f"GATEWAY_REQUIRE_BROWSER=1 but {reason}")
        pytest.skip(reason)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        instance = playwright.chromium.launch(
            executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS
        )
        yield instance
        instance.close()


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    """A new browser page that records console errors in ``page.problems``."""
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    new_page = context.new_page()
    new_page.set_default_timeout(10_000)
    problems: list[str] = []
    new_page.on(
        "console",
        lambda message: (
            problems.append(message.text) if message.type == "error" else None
        ),
    )
    new_page.on("pageerror", lambda error: problems.append(str(error)))
    new_page.problems = problems
    yield new_page
    context.close()
