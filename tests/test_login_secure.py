"""Cookies when the gateway is published at an https issuer URL."""

from __future__ import annotations

import pytest

from config import Settings
from tests.conftest import PASSWORD, load_test_settings
from tests.pages import PageClient


@pytest.fixture
def settings(database_url: str) -> Settings:
    return load_test_settings(database_url, issuer="https://gateway.example")


@pytest.mark.gen_test
async def test_https_issuer_secure_cookies(app, http_client, base_url, make_user):
    make_user("carol")
    pages = PageClient(http_client, base_url)
    login_page = await pages.get("/login")
    xsrf_cookies = [
        header
        for header in login_page.headers.get_list("Set-Cookie")
        if header.startswith("__Host-gateway_xsrf=")
    ]
    assert len(xsrf_cookies) == 1
    assert "Secure" in xsrf_cookies[0]
    assert "HttpOnly" in xsrf_cookies[0]
    assert "Path=/" in xsrf_cookies[0]

    response = await pages.post("/login", {"username": "carol", "password": PASSWORD})
    assert response.code == 303
    session_cookies = [
        header
        for header in response.headers.get_list("Set-Cookie")
        if header.startswith("__Host-gateway_session=")
    ]
    assert len(session_cookies) == 1
    cookie = session_cookies[0]
    assert "Secure" in cookie
    assert "HttpOnly" in cookie
    assert "SameSite=Lax" in cookie
    assert "Path=/" in cookie
    assert "Domain" not in cookie
    assert (await pages.get("/")).code == 200
