"""Admin pages for users: create, deactivate, reactivate, reset passwords."""

from __future__ import annotations

import re

import pytest

from models.audit import AuditEvent
from models.sessions import WebSession
from models.tokens import AccessToken
from models.users import SERVICE_ACCOUNT, User, query_user
from tests.conftest import PASSWORD, basic_header
from tests.pages import assert_page_headers, field_error, text

NEW_PASSWORD = "a new long password"


def shown_password(response) -> str:
    match = re.search(r'id="generated-password" value="([^"]+)"', text(response))
    assert match, "no generated password on the page"
    return match.group(1)


async def submit_new_user(login_as, fields: dict[str, str]):
    """Log in as staff user ``sam`` and submit the Add User form with ``fields``."""
    pages = await login_as("sam")
    await pages.get("/admin/users/new")
    return await pages.post("/admin/users/new", fields)


async def execute_echo(http_client, base_url, authorization: str):
    return await http_client.fetch(
        base_url + "/integrations/execute/echo",
        method="POST",
        body="{}",
        headers={"Authorization": authorization},
        raise_error=False,
    )


@pytest.mark.gen_test
async def test_create_standard_user(staff_user, login_as):
    response = await submit_new_user(
        login_as,
        {
            "username": "dora",
            "kind": "standard",
            "password": NEW_PASSWORD,
            "password_confirm": NEW_PASSWORD,
        },
    )
    assert response.code == 303
    user = query_user("dora")
    assert user is not None
    assert user.kind == "standard"
    assert response.headers["Location"] == f"/admin/users/{user.id}?notice=created"
    event = AuditEvent.get(AuditEvent.action == "user.create")
    assert event.actor == "sam"
    assert event.target == "dora"
    assert event.auth_method == "session"

    dora = await login_as("dora", NEW_PASSWORD)
    assert (await dora.get("/")).code == 200


@pytest.mark.gen_test
async def test_create_service_account(staff_user, login_as, http_client, base_url):
    response = await submit_new_user(
        login_as,
        {"username": "robot", "kind": "service_account", "vendor": "Acme"},
    )
    assert response.code == 200
    assert_page_headers(response)
    assert "will not be shown again" in text(response)
    password = shown_password(response)
    user = query_user("robot")
    assert user.kind == SERVICE_ACCOUNT
    assert user.vendor == "Acme"
    assert password not in user.password_hash

    # The account cannot call echo until it is granted execute, but the
    # password authenticates: 403 instead of 401.
    call = await execute_echo(http_client, base_url, basic_header("robot", password))
    assert call.code == 403


@pytest.mark.gen_test
async def test_create_user_errors_keep_input(staff_user, login_as):
    response = await submit_new_user(
        login_as,
        {
            "username": "bad name",
            "kind": "standard",
            "vendor": "Acme",
            "password": "short",
            "password_confirm": "short",
        },
    )
    assert response.code == 422
    assert_page_headers(response)
    assert "invalid username" in field_error(response, "username")
    assert (
        field_error(response, "vendor")
        == "A vendor label is only for service accounts."
    )
    assert "too short" in field_error(response, "password")
    assert 'value="bad name"' in text(response)
    assert 'value="Acme"' in text(response)
    assert "short" not in re.findall(r'type="password"[^>]*', text(response))[0]
    assert query_user("bad name") is None


@pytest.mark.gen_test
async def test_create_user_password_mismatch(staff_user, login_as):
    response = await submit_new_user(
        login_as,
        {
            "username": "dora",
            "kind": "staff",
            "password": NEW_PASSWORD,
            "password_confirm": NEW_PASSWORD + "x",
        },
    )
    assert response.code == 422
    assert (
        field_error(response, "password_confirm") == "The two passwords do not match."
    )
    assert query_user("dora") is None


@pytest.mark.gen_test
async def test_create_user_duplicate(staff_user, login_as):
    response = await submit_new_user(
        login_as,
        {
            "username": "sam",
            "kind": "standard",
            "password": NEW_PASSWORD,
            "password_confirm": NEW_PASSWORD,
        },
    )
    assert response.code == 422
    assert field_error(response, "username") == "user &#39;sam&#39; already exists"
    assert User.select().where(User.username == "sam").count() == 1


@pytest.mark.gen_test
async def test_create_user_differing_in_case(staff_user, login_as):
    pages = await login_as("sam")
    await pages.get("/admin/users/new")
    response = await pages.post(
        "/admin/users/new",
        {
            "username": "Sam",
            "kind": "service_account",
            "vendor": "ACME",
        },
    )
    assert response.code == 422
    assert_page_headers(response)
    assert field_error(response, "username") == (
        "a user named &#39;sam&#39; already exists, so choose a username that"
        " differs in more than letter case"
    )
    assert 'value="Sam"' in text(response)
    assert query_user("Sam") is None
    assert User.select().count() == 1


@pytest.mark.gen_test
async def test_deactivate_user_stops_everything(
    staff_user, service_account, cc_client, login_as, http_client, base_url, gateway
):
    client, secret = cc_client
    token, _ = gateway.tokens.issue(
        service_account, client.client_id, "integration:echo"
    )
    assert (await execute_echo(http_client, base_url, f"Bearer {token}")).code == 200
    basic = basic_header("partner-sa", PASSWORD)
    assert (await execute_echo(http_client, base_url, basic)).code == 200

    pages = await login_as("sam")
    await pages.get(f"/admin/users/{service_account.id}")
    response = await pages.post(
        f"/admin/users/{service_account.id}/active", {"active": "0"}
    )
    assert response.code == 303
    assert response.headers["Location"].endswith("?notice=deactivated")
    assert query_user("partner-sa").is_active is False

    bearer_call = await execute_echo(http_client, base_url, f"Bearer {token}")
    assert bearer_call.code == 401
    assert b'"error":"invalid_token"' in bearer_call.body
    basic_call = await execute_echo(http_client, base_url, basic)
    assert basic_call.code == 401
    assert AccessToken.get(AccessToken.user == service_account.id).revoked_at
    event = AuditEvent.get(AuditEvent.action == "user.deactivate")
    assert event.actor == "sam"
    assert event.detail == "access tokens revoked: 1, refresh tokens revoked: 0"


@pytest.mark.gen_test
async def test_deactivate_person_ends_sessions(staff_user, make_user, login_as):
    carol = make_user("carol")
    carol_pages = await login_as("carol")
    assert (await carol_pages.get("/")).code == 200

    pages = await login_as("sam")
    await pages.get(f"/admin/users/{carol.id}")
    response = await pages.post(f"/admin/users/{carol.id}/active", {"active": "0"})
    assert response.code == 303
    assert (await carol_pages.get("/")).code == 302
    live = WebSession.select().where(
        (WebSession.user == carol.id) & WebSession.ended_at.is_null()
    )
    assert live.count() == 0


@pytest.mark.gen_test
async def test_reactivate_user(staff_user, make_user, login_as):
    carol = make_user("carol")
    pages = await login_as("sam")
    await pages.get(f"/admin/users/{carol.id}")
    await pages.post(f"/admin/users/{carol.id}/active", {"active": "0"})
    response = await pages.post(f"/admin/users/{carol.id}/active", {"active": "1"})
    assert response.code == 303
    assert response.headers["Location"].endswith("?notice=activated")
    assert query_user("carol").is_active is True
    assert (await (await login_as("carol")).get("/")).code == 200
    assert AuditEvent.get(AuditEvent.action == "user.activate").actor == "sam"


@pytest.mark.gen_test
async def test_deactivate_self_rejected(staff_user, login_as):
    pages = await login_as("sam")
    await pages.get(f"/admin/users/{staff_user.id}")
    response = await pages.post(f"/admin/users/{staff_user.id}/active", {"active": "0"})
    assert response.code == 422
    assert field_error(response, "active") == "You cannot deactivate your own account."
    assert query_user("sam").is_active is True


@pytest.mark.gen_test
async def test_reset_person_password(staff_user, make_user, login_as, pages):
    carol = make_user("carol")
    carol_pages = await login_as("carol")
    staff_pages = await login_as("sam")
    await staff_pages.get(f"/admin/users/{carol.id}")
    response = await staff_pages.post(
        f"/admin/users/{carol.id}/password",
        {"password": NEW_PASSWORD, "password_confirm": NEW_PASSWORD},
    )
    assert response.code == 303
    assert response.headers["Location"].endswith("?notice=password")
    assert (await carol_pages.get("/")).code == 302

    await pages.get("/login")
    old = await pages.post("/login", {"username": "carol", "password": PASSWORD})
    assert old.code == 422
    await login_as("carol", NEW_PASSWORD)
    event = AuditEvent.get(AuditEvent.action == "user.password_reset")
    assert event.detail == "set by staff"
    assert NEW_PASSWORD not in (event.detail or "")


@pytest.mark.gen_test
async def test_reset_password_mismatch(staff_user, make_user, login_as):
    carol = make_user("carol")
    pages = await login_as("sam")
    await pages.get(f"/admin/users/{carol.id}")
    response = await pages.post(
        f"/admin/users/{carol.id}/password",
        {"password": NEW_PASSWORD, "password_confirm": "other"},
    )
    assert response.code == 422
    assert (
        field_error(response, "password_confirm") == "The two passwords do not match."
    )


@pytest.mark.gen_test
async def test_reset_service_account_password(
    staff_user, service_account, login_as, http_client, base_url
):
    old = basic_header("partner-sa", PASSWORD)
    assert (await execute_echo(http_client, base_url, old)).code == 200
    pages = await login_as("sam")
    await pages.get(f"/admin/users/{service_account.id}")
    response = await pages.post(f"/admin/users/{service_account.id}/password")
    assert response.code == 200
    assert "will not be shown again" in text(response)
    password = shown_password(response)

    assert (await execute_echo(http_client, base_url, old)).code == 401
    new = basic_header("partner-sa", password)
    assert (await execute_echo(http_client, base_url, new)).code == 200
    reloaded = await pages.get(f"/admin/users/{service_account.id}")
    assert password not in text(reloaded)


@pytest.mark.gen_test
async def test_user_list_filters_kind(staff_user, service_account, make_user, login_as):
    make_user("carol")
    pages = await login_as("sam")
    everyone = text(await pages.get("/admin/users"))
    assert "carol" in everyone
    assert "partner-sa" in everyone
    accounts = text(await pages.get("/admin/users?kind=service_account"))
    assert "partner-sa" in accounts
    assert ">carol<" not in accounts
