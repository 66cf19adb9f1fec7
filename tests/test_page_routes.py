"""How the pages respond around their routes: static files, HEAD, trailing
slashes, on/off switches and the console navigation."""

from __future__ import annotations

import re

import pytest

from models.integration_state import check_integration_enabled
from models.users import query_user
from tests.pages import CSP, assert_page_headers, error_code, text


@pytest.mark.gen_test
@pytest.mark.parametrize(
    ("path", "status", "code"),
    [
        ("/static/nope.css", 404, "not_found"),
        ("/favicon.ico", 404, "not_found"),
        ("/robots.txt", 404, "not_found"),
        ("/static/..%2fserver.py", 403, "forbidden"),
        ("/static/..%2f..%2fetc%2fpasswd", 403, "forbidden"),
    ],
)
async def test_static_error_page(pages, path, status, code):
    response = await pages.get(path)
    assert response.code == status
    assert_page_headers(response)
    assert error_code(response) == code
    assert response.headers["X-Request-Id"] in text(response)
    assert '<link rel="stylesheet" href="/static/gateway.css?v=' in text(response)
    assert "Traceback" not in text(response)


@pytest.mark.gen_test
async def test_static_file_cacheable(pages):
    page = text(await pages.get("/login"))
    match = re.search(r'href="(/static/gateway\.css\?v=[^"]+)"', page)
    assert match
    response = await pages.get(match.group(1))
    assert response.code == 200
    assert response.headers["Content-Type"] == "text/css"
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["X-Frame-Options"] == "DENY"
    assert "max-age" in response.headers["Cache-Control"]
    assert "Content-Security-Policy" not in response.headers
    assert "Server" not in response.headers


@pytest.mark.gen_test
async def test_static_head_missing(pages):
    response = await pages.fetch("/static/nope.css", method="HEAD")
    assert response.code == 404
    assert response.headers["Content-Security-Policy"] == CSP
    assert response.body == b""


@pytest.mark.gen_test
async def test_head_login_page(pages):
    response = await pages.fetch("/login", method="HEAD")
    assert response.code == 200
    assert_page_headers(response)
    assert response.body == b""


@pytest.mark.gen_test
async def test_head_own_page(pages, make_user, login_as):
    anonymous = await pages.fetch("/", method="HEAD")
    assert anonymous.code == 302
    assert anonymous.headers["Location"] == "/login?next=%2F"
    make_user("carol")
    carol = await login_as("carol")
    response = await carol.fetch("/", method="HEAD")
    assert response.code == 200
    assert_page_headers(response)
    assert response.body == b""


@pytest.mark.gen_test
@pytest.mark.parametrize(
    "path",
    [
        "/admin/users/",
        "/admin/integrations/",
        "/admin/integrations/echo/",
        "/admin/applications/",
        "/admin/applications/new/",
        "/admin/tokens/",
        "/admin/audit/",
        "/admin",
        "/admin/",
    ],
)
async def test_console_trailing_slash(staff_user, login_as, path):
    pages = await login_as("sam")
    response = await pages.get(path)
    assert response.code == 200
    assert_page_headers(response)


@pytest.mark.gen_test
async def test_user_page_trailing_slash(staff_user, login_as):
    pages = await login_as("sam")
    response = await pages.get(f"/admin/users/{staff_user.id}/")
    assert response.code == 200
    assert f"<h1>{staff_user.username}</h1>" in text(response)


@pytest.mark.gen_test
@pytest.mark.parametrize("value", ["", "2", "yes", "true", "01", "١"])
async def test_active_switch_rejects_value(staff_user, make_user, login_as, value):
    carol = make_user("carol")
    pages = await login_as("sam")
    await pages.get(f"/admin/users/{carol.id}")
    response = await pages.post(f"/admin/users/{carol.id}/active", {"active": value})
    assert response.code == 400
    assert_page_headers(response)
    assert error_code(response) == "invalid_request"
    assert "The active field must be 0 or 1." in text(response)
    assert query_user("carol").is_active is True


@pytest.mark.gen_test
async def test_active_switch_missing(staff_user, make_user, login_as):
    carol = make_user("carol")
    pages = await login_as("sam")
    await pages.get(f"/admin/users/{carol.id}")
    response = await pages.post(f"/admin/users/{carol.id}/active", {})
    assert response.code == 400
    assert error_code(response) == "invalid_request"
    assert query_user("carol").is_active is True


@pytest.mark.gen_test
async def test_enabled_switch_rejects_value(staff_user, login_as):
    pages = await login_as("sam")
    await pages.get("/admin/integrations/echo")
    response = await pages.post("/admin/integrations/echo/enabled", {"enabled": "no"})
    assert response.code == 400
    assert_page_headers(response)
    assert error_code(response) == "invalid_request"
    assert "The enabled field must be 0 or 1." in text(response)
    assert check_integration_enabled("echo") is True


@pytest.mark.gen_test
async def test_navigation_groups_oauth(staff_user, login_as):
    pages = await login_as("sam")
    body = text(await pages.get("/admin/applications/"))
    nav = body[body.index('<nav aria-label="Main">') : body.index("</nav>")]
    group = nav[nav.index('<span class="nav-group"') :]
    assert group.index("OAuth 2.0") < group.index(">Applications</a>")
    assert group.index(">Applications</a>") < group.index(">Tokens</a>")
    assert '<a href="/admin/applications" aria-current="page">Applications</a>' in nav
    assert 'aria-current="page">Dashboard' not in nav
    dashboard = text(await pages.get("/admin"))
    assert '<a href="/admin/" aria-current="page">Dashboard</a>' in dashboard
