"""Helpers of the page tests.

``PageClient`` is a browser-like HTTP client that keeps cookies and fills the
xsrf field. The Playwright helpers drive Debian's headless Chromium.
"""

from __future__ import annotations

import http.cookies
import re
import urllib.parse
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest
from tornado.httpclient import AsyncHTTPClient, HTTPResponse

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
ARTIFACTS = Path(__file__).resolve().parent.parent / "test-artifacts"
XSRF_FIELD = re.compile(r'name="_xsrf" value="([^"]+)"')
CSP = (
    "default-src 'none'; style-src 'self'; img-src 'self'; base-uri 'none';"
    " frame-ancestors 'none'"
)


def assert_page_headers(response: HTTPResponse) -> None:
    """Assert the security headers every HTML response carries."""
    headers = response.headers
    assert headers["Content-Type"] == "text/html; charset=UTF-8"
    assert headers["Content-Security-Policy"] == CSP
    assert headers["X-Frame-Options"] == "DENY"
    assert headers["X-Content-Type-Options"] == "nosniff"
    assert headers["Referrer-Policy"] == "no-referrer"
    assert headers["Cache-Control"] == "no-store"
    assert "Server" not in headers


def error_code(response: HTTPResponse) -> str:
    """Return the error code shown on an HTML error page."""
    match = re.search(r'<code class="error-code">([^<]*)</code>', text(response))
    assert match, f"no error code on the page: {text(response)[:500]}"
    return match.group(1)


def field_error(response: HTTPResponse, name: str) -> str:
    """Return the error message shown next to the form field ``name``."""
    match = re.search(rf'id="{name}-error">([^<]*)<', text(response))
    assert match, f"no error for {name}"
    return match.group(1)


def text(response: HTTPResponse) -> str:
    return response.body.decode("utf-8")


class PageClient:
    """Fetches pages like a browser without script: cookies kept, no redirects."""

    def __init__(self, http_client: AsyncHTTPClient, base_url: str) -> None:
        self.http_client = http_client
        self.base_url = base_url
        self.cookies: dict[str, str] = {}
        self.xsrf: str | None = None

    def _store_cookies(self, response: HTTPResponse) -> None:
        for header in response.headers.get_list("Set-Cookie"):
            cookie = http.cookies.SimpleCookie()
            cookie.load(header)
            for name, morsel in cookie.items():
                if morsel["expires"] and not morsel.value:
                    self.cookies.pop(name, None)
                else:
                    self.cookies[name] = morsel.value

    async def fetch(
        self, path: str, method: str = "GET", **kwargs: Any
    ) -> HTTPResponse:
        headers = dict(kwargs.pop("headers", {}))
        headers.setdefault("Accept", "text/html")
        if self.cookies:
            headers["Cookie"] = "; ".join(
                f"{name}={value}" for name, value in self.cookies.items()
            )
        response = await self.http_client.fetch(
            self.base_url + path,
            method=method,
            headers=headers,
            follow_redirects=False,
            raise_error=False,
            **kwargs,
        )
        self._store_cookies(response)
        match = XSRF_FIELD.search(response.body.decode("utf-8", "replace"))
        if match:
            self.xsrf = match.group(1)
        return response

    async def get(self, path: str, **kwargs: Any) -> HTTPResponse:
        return await self.fetch(path, **kwargs)

    async def post(
        self,
        path: str,
        fields: Mapping[str, str | list[str]] | None = None,
        xsrf: bool = True,
    ) -> HTTPResponse:
        """POST a form; the xsrf token of the last page is added unless ``xsrf``."""
        form = dict(fields or {})
        if xsrf:
            if self.xsrf is None:
                await self.get("/login")
            assert self.xsrf is not None
            form.setdefault("_xsrf", self.xsrf)
        return await self.fetch(
            path,
            method="POST",
            body=urllib.parse.urlencode(form, doseq=True),
            headers={"Content-Type": "application/x-www-form-urlencoded"},
        )

    async def login(self, username: str, password: str) -> HTTPResponse:
        await self.get("/login")
        response = await self.post(
            "/login", {"username": username, "password": password}
        )
        assert response.code == 303, text(response)[:500]
        return response


def screenshot(page: Any, request: pytest.FixtureRequest, name: str) -> None:
    """Save ``page`` under ``test-artifacts/``, named after the test's backend."""
    ARTIFACTS.mkdir(exist_ok=True)
    backend = request.node.callspec.params.get("server_database_url", "db")
    page.screenshot(path=str(ARTIFACTS / f"{name}-{backend}.png"), full_page=True)


def log_in(page: Any, username: str, password: str) -> None:
    """Fill in and submit the login form of the current browser page."""
    page.fill("#username", username)
    page.fill("#password", password)
    page.click("#log-in")
