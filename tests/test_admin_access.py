"""Who may open the admin console: staff only, and every page is a safe page."""

from __future__ import annotations

import pytest

from tests.conftest import PASSWORD
from tests.pages import assert_page_headers, error_code, text

ADMIN_PAGES = [
    "/admin/",
    "/admin/users",
    "/admin/users/new",
    "/admin/users/1",
    "/admin/integrations",
    "/admin/integrations/echo",
    "/admin/applications",
    "/admin/applications/new",
    "/admin/tokens",
    "/admin/tokens?kind=refresh_token",
    "/admin/audit",
    "/admin/audit.csv",
]
ADMIN_FORMS = [
    "/admin/users/new",
    "/admin/users/1/active",
    "/admin/users/1/password",
    "/admin/users/1/permissions",
    "/admin/integrations/echo/enabled",
    "/admin/applications/new",
    "/admin/tokens/revoke",
    "/admin/tokens/refresh/revoke",
]


@pytest.mark.gen_test
@pytest.mark.parametrize("path", ADMIN_PAGES)
async def test_admin_page_forbidden_to_standard_user(
    path, staff_user, make_user, login_as
):
    make_user("carol")
    pages = await login_as("carol")
    response = await pages.get(path)
    assert response.code == 403
    assert_page_headers(response)
    assert error_code(response) == "forbidden"
    assert "Only staff members may use the admin console." in text(response)


@pytest.mark.gen_test
@pytest.mark.parametrize("path", ADMIN_FORMS)
async def test_admin_form_forbidden_to_standard_user(
    path, staff_user, make_user, login_as
):
    make_user("carol")
    pages = await login_as("carol")
    await pages.get("/")
    response = await pages.post(path, {"active": "0", "enabled": "0"})
    assert response.code == 403
    assert_page_headers(response)
    assert error_code(response) == "forbidden"


@pytest.mark.gen_test
@pytest.mark.parametrize("path", ["/admin/", "/admin/users?kind=staff"])
async def test_admin_page_anonymous_redirects(path, pages):
    response = await pages.get(path)
    assert response.code == 302
    assert response.headers["Location"].startswith("/login?next=%2Fadmin%2F")


@pytest.mark.gen_test
async def test_admin_form_anonymous_forbidden(pages, staff_user):
    await pages.get("/login")
    response = await pages.post("/admin/users/1/active", {"active": "0"})
    assert response.code == 403
    assert error_code(response) == "login_required"


@pytest.mark.gen_test
@pytest.mark.parametrize("path", ADMIN_FORMS)
async def test_admin_form_without_xsrf_rejected(path, staff_user, login_as):
    pages = await login_as("sam")
    response = await pages.post(path, {"active": "0"}, xsrf=False)
    assert response.code == 403
    assert_page_headers(response)
    assert error_code(response) == "xsrf_failed"


@pytest.mark.gen_test
@pytest.mark.parametrize("path", [p for p in ADMIN_PAGES if not p.endswith(".csv")])
async def test_admin_page_for_staff(path, staff_user, login_as):
    pages = await login_as("sam")
    response = await pages.get(path)
    assert response.code == 200
    assert_page_headers(response)
    assert "sam (staff)" in text(response)
    assert "<script" not in text(response)


@pytest.mark.gen_test
async def test_staff_login_lands_on_dashboard(pages, staff_user):
    await pages.get("/login")
    response = await pages.post("/login", {"username": "sam", "password": PASSWORD})
    assert response.code == 303
    assert response.headers["Location"] == "/admin/"


@pytest.mark.gen_test
@pytest.mark.parametrize(
    "path",
    [
        "/admin/users/999",
        "/admin/integrations/no-such-thing",
        "/admin/applications/no-such-client",
    ],
)
async def test_admin_unknown_object_not_found(path, staff_user, login_as):
    pages = await login_as("sam")
    response = await pages.get(path)
    assert response.code == 404
    assert_page_headers(response)
    assert error_code(response) == "not_found"
