"""A staff member changing their own password on the console."""

from __future__ import annotations

import pytest

from models.audit import AuditEvent
from models.sessions import WebSession
from models.users import query_user
from tests.conftest import PASSWORD
from tests.pages import assert_page_headers, field_error, text

NEW_PASSWORD = "a new long password"


def live_sessions(user_id: int) -> int:
    query = WebSession.select().where(
        (WebSession.user == user_id) & WebSession.ended_at.is_null()
    )
    return query.count()


@pytest.mark.gen_test
async def test_own_password_keeps_session(staff_user, login_as, pages):
    other_browser = await login_as("sam")
    console = await login_as("sam")
    old_cookie = console.cookies["gateway_session"]
    page = await console.get(f"/admin/users/{staff_user.id}")
    assert 'id="current_password"' in text(page)

    response = await console.post(
        f"/admin/users/{staff_user.id}/password",
        {
            "current_password": PASSWORD,
            "password": NEW_PASSWORD,
            "password_confirm": NEW_PASSWORD,
        },
    )
    assert response.code == 303
    location = f"/admin/users/{staff_user.id}?notice=own_password"
    assert response.headers["Location"] == location
    assert console.cookies["gateway_session"] != old_cookie

    notice_page = await console.get(location)
    assert notice_page.code == 200
    assert_page_headers(notice_page)
    assert "Your password was changed." in text(notice_page)
    assert (await other_browser.get("/admin/")).code == 302
    assert live_sessions(staff_user.id) == 1

    await pages.get("/login")
    old = await pages.post("/login", {"username": "sam", "password": PASSWORD})
    assert old.code == 422
    await login_as("sam", NEW_PASSWORD)
    event = AuditEvent.get(AuditEvent.action == "user.password_change")
    assert event.actor == "sam"
    assert event.outcome == "success"
    assert event.detail == "own password"


@pytest.mark.gen_test
async def test_own_password_needs_current(staff_user, login_as):
    console = await login_as("sam")
    await console.get(f"/admin/users/{staff_user.id}")
    for current in ("", "not my password"):
        response = await console.post(
            f"/admin/users/{staff_user.id}/password",
            {
                "current_password": current,
                "password": NEW_PASSWORD,
                "password_confirm": NEW_PASSWORD,
            },
        )
        assert response.code == 422
        assert_page_headers(response)
        assert field_error(response, "current_password") == (
            "The current password is incorrect."
        )
    sam = query_user("sam")
    assert (await console.get("/admin/")).code == 200
    assert live_sessions(sam.id) == 1
    failures = AuditEvent.select().where(
        (AuditEvent.action == "user.password_change")
        & (AuditEvent.outcome == "failure")
    )
    assert failures.count() == 2


@pytest.mark.gen_test
async def test_own_password_guessing_throttled(staff_user, login_as, gateway):
    console = await login_as("sam")
    await console.get(f"/admin/users/{staff_user.id}")
    form = {
        "current_password": "guess",
        "password": NEW_PASSWORD,
        "password_confirm": NEW_PASSWORD,
    }
    for _ in range(gateway.settings.login_throttle_max_failures):
        wrong = await console.post(f"/admin/users/{staff_user.id}/password", form)
        assert wrong.code == 422
    form["current_password"] = PASSWORD
    throttled = await console.post(f"/admin/users/{staff_user.id}/password", form)
    assert throttled.code == 429
    assert_page_headers(throttled)
    assert int(throttled.headers["Retry-After"]) > 0
    assert "Too many failed logins" in field_error(throttled, "current_password")
    assert gateway.hasher.check_now(PASSWORD, query_user("sam").password_hash)


@pytest.mark.gen_test
async def test_other_staff_password_no_current(staff_user, make_user, login_as):
    other = make_user("tess", "staff")
    console = await login_as("sam")
    page = await console.get(f"/admin/users/{other.id}")
    assert 'id="current_password"' not in text(page)
    response = await console.post(
        f"/admin/users/{other.id}/password",
        {"password": NEW_PASSWORD, "password_confirm": NEW_PASSWORD},
    )
    assert response.code == 303
    assert response.headers["Location"].endswith("?notice=password")
    event = AuditEvent.get(AuditEvent.action == "user.password_reset")
    assert event.detail == "set by staff"
