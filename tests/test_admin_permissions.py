"""The permission checkboxes on a user's admin page."""

from __future__ import annotations

import pytest

from models.audit import AuditEvent
from models.users import EXECUTE, READ, grant_permission, query_user_permissions
from tests.conftest import PASSWORD, basic_header
from tests.pages import assert_page_headers, text


@pytest.mark.gen_test
async def test_permissions_saved_and_audited(staff_user, make_user, login_as):
    carol = make_user("carol", permissions={"echo": (READ,)})
    pages = await login_as("sam")
    page = await pages.get(f"/admin/users/{carol.id}")
    assert 'name="echo:read" id="perm-echo-read" aria-label="read on echo" checked' in (
        text(page)
    )
    response = await pages.post(
        f"/admin/users/{carol.id}/permissions",
        {"echo:execute": "on", "echo:debug": "on"},
    )
    assert response.code == 303
    assert response.headers["Location"].endswith("?notice=permissions")
    assert query_user_permissions(carol.id) == {"echo": {EXECUTE, "debug"}}

    events = list(
        AuditEvent.select()
        .where(AuditEvent.action.startswith("permission."))
        .order_by(AuditEvent.id)
    )
    assert [(e.action, e.detail) for e in events] == [
        ("permission.grant", "execute on echo"),
        ("permission.grant", "debug on echo"),
        ("permission.revoke", "read on echo"),
    ]
    assert all(event.actor == "sam" for event in events)
    assert all(event.target == "carol" for event in events)


@pytest.mark.gen_test
async def test_granted_execute_works_at_once(
    staff_user, make_user, login_as, http_client, base_url
):
    carol = make_user("carol")
    call = {
        "method": "POST",
        "body": "{}",
        "headers": {"Authorization": basic_header("carol", PASSWORD)},
        "raise_error": False,
    }
    before = await http_client.fetch(base_url + "/integrations/execute/echo", **call)
    assert before.code == 403
    pages = await login_as("sam")
    await pages.get(f"/admin/users/{carol.id}")
    await pages.post(f"/admin/users/{carol.id}/permissions", {"echo:execute": "on"})
    after = await http_client.fetch(base_url + "/integrations/execute/echo", **call)
    assert after.code == 200


@pytest.mark.gen_test
async def test_service_account_only_execute(staff_user, service_account, login_as):
    pages = await login_as("sam")
    page = await pages.get(f"/admin/users/{service_account.id}")
    assert 'name="echo:execute"' in text(page)
    assert 'name="echo:read"' not in text(page)

    response = await pages.post(
        f"/admin/users/{service_account.id}/permissions",
        {"echo:execute": "on", "echo:read": "on"},
    )
    assert response.code == 422
    assert_page_headers(response)
    assert "can only hold the execute permission" in text(response)
    assert query_user_permissions(service_account.id) == {"echo": {EXECUTE}}
    assert (
        not AuditEvent.select().where(AuditEvent.action == "permission.grant").exists()
    )


@pytest.mark.gen_test
async def test_unloaded_integration_permissions_kept(staff_user, make_user, login_as):
    carol = make_user("carol")
    grant_permission(carol, "retired-plugin", READ)
    pages = await login_as("sam")
    page = await pages.get(f"/admin/users/{carol.id}")
    assert "retired-plugin" in text(page)
    await pages.post(f"/admin/users/{carol.id}/permissions", {"echo:read": "on"})
    assert query_user_permissions(carol.id) == {
        "echo": {READ},
        "retired-plugin": {READ},
    }
