"""The token lists and the audit log of the admin console."""

from __future__ import annotations

import csv
import datetime
import io
import json

import pytest

from auth.secrets import sha256_hex
from handlers.admin.audit import csv_cell, parse_time
from models.audit import AuditEvent, record_event
from models.base import database, utcnow
from models.refresh_tokens import RefreshToken, revoke_refresh_tokens
from tests.oauth_support import REDIRECT_URI, assert_oauth_error, json_body
from tests.pages import assert_page_headers, error_code, text


@pytest.mark.gen_test
async def test_token_list_never_shows_token(
    staff_user, service_account, cc_client, login_as, gateway
):
    client, _ = cc_client
    token, record = gateway.tokens.issue(
        service_account, client.client_id, "integration:echo"
    )
    pages = await login_as("sam")
    page = await pages.get("/admin/tokens")
    assert page.code == 200
    assert_page_headers(page)
    body = text(page)
    assert record.jti in body
    assert client.client_id in body
    assert "partner-sa" in body
    assert "integration:echo" in body
    assert token not in body
    assert token.split(".")[2] not in body


@pytest.mark.gen_test
async def test_token_list_filters(
    staff_user, service_account, cc_client, make_client, login_as, gateway
):
    client, _ = cc_client
    other, _ = make_client(name="Other", service_account=service_account)
    _, first = gateway.tokens.issue(service_account, client.client_id, "")
    _, second = gateway.tokens.issue(service_account, other.client_id, "")
    pages = await login_as("sam")
    body = text(await pages.get(f"/admin/tokens?client_id={client.client_id}"))
    assert first.jti in body
    assert second.jti not in body
    nobody = text(await pages.get("/admin/tokens?username=nobody"))
    assert first.jti not in nobody
    assert "No active access token matches the filter." in nobody


@pytest.mark.gen_test
async def test_revoke_token(
    staff_user, service_account, cc_client, login_as, gateway, oauth
):
    client, _ = cc_client
    token, record = gateway.tokens.issue(
        service_account, client.client_id, "integration:echo"
    )
    assert (await oauth.call_echo(token)).code == 200
    pages = await login_as("sam")
    await pages.get("/admin/tokens")
    response = await pages.post("/admin/tokens/revoke", {"jti": record.jti})
    assert response.code == 303
    assert response.headers["Location"] == "/admin/tokens?notice=revoked"
    call = await oauth.call_echo(token)
    assert call.code == 401
    assert json.loads(call.body)["error"] == "invalid_token"
    assert record.jti not in text(await pages.get("/admin/tokens"))
    event = AuditEvent.get(AuditEvent.action == "token.revoke")
    assert event.actor == "sam"
    assert event.target == record.jti
    assert event.client_id == client.client_id


def grant_of(refresh_token: str) -> RefreshToken:
    """Return the stored record of ``refresh_token``."""
    return RefreshToken.get(RefreshToken.token_digest == sha256_hex(refresh_token))


@pytest.mark.gen_test
async def test_refresh_token_list_never_shows_token(
    staff_user, standard_user, ac_client, login_as, oauth
):
    client, secret = ac_client
    tokens = await oauth.issue_tokens(client, secret, standard_user)
    record = grant_of(tokens["refresh_token"])
    pages = await login_as("sam")

    page = await pages.get("/admin/tokens?kind=refresh_token")

    assert page.code == 200
    assert_page_headers(page)
    body = text(page)
    assert "<h1>Active refresh tokens</h1>" in body
    assert 'id="refresh-tokens"' in body
    assert 'id="tokens"' not in body
    assert record.grant_id in body
    assert client.client_id in body
    assert "alice" in body
    assert "integration:echo" in body
    assert tokens["refresh_token"] not in body
    assert record.token_digest not in body
    assert tokens["access_token"] not in body
    assert 'name="grant_id" value="' + record.grant_id + '"' in body
    assert 'action="/admin/tokens/refresh/revoke"' in body
    assert 'name="kind" value="refresh_token"' in body
    access_page = text(await pages.get("/admin/tokens"))
    assert "<h1>Active access tokens</h1>" in access_page
    assert record.grant_id not in access_page
    assert 'id="refresh-tokens"' not in access_page


@pytest.mark.gen_test
async def test_refresh_token_list_only_live(
    staff_user, standard_user, ac_client, login_as, oauth, gateway
):
    client, secret = ac_client
    rotated = await oauth.issue_tokens(client, secret, standard_user)
    response = await oauth.refresh(client, secret, rotated["refresh_token"])
    successor = json_body(response)["refresh_token"]
    revoked = await oauth.issue_tokens(client, secret, standard_user)
    revoke_refresh_tokens(
        RefreshToken.grant_id == grant_of(revoked["refresh_token"]).grant_id
    )
    expired = await oauth.issue_tokens(client, secret, standard_user)
    RefreshToken.update(expires_at=utcnow() - datetime.timedelta(seconds=1)).where(
        RefreshToken.grant_id == grant_of(expired["refresh_token"]).grant_id
    ).execute()
    pages = await login_as("sam")

    body = text(await pages.get("/admin/tokens?kind=refresh_token"))

    assert body.count(grant_of(successor).grant_id) == 2
    assert grant_of(revoked["refresh_token"]).grant_id not in body
    assert grant_of(expired["refresh_token"]).grant_id not in body
    assert "1 in all." in body


@pytest.mark.gen_test
async def test_refresh_token_list_filters(
    staff_user, standard_user, make_user, ac_client, make_client, login_as, oauth
):
    client, secret = ac_client
    other, other_secret = make_client(
        name="Other portal",
        grant_types=["authorization_code"],
        redirect_uris=[REDIRECT_URI],
    )
    bob = make_user("bob", permissions={"echo": ("execute",)})
    alice_grant = grant_of(
        (await oauth.issue_tokens(client, secret, standard_user))["refresh_token"]
    ).grant_id
    bob_grant = grant_of(
        (await oauth.issue_tokens(client, secret, bob))["refresh_token"]
    ).grant_id
    other_grant = grant_of(
        (await oauth.issue_tokens(other, other_secret, standard_user))["refresh_token"]
    ).grant_id
    pages = await login_as("sam")

    by_client = text(
        await pages.get(
            f"/admin/tokens?kind=refresh_token&client_id={client.client_id}"
        )
    )
    assert alice_grant in by_client
    assert bob_grant in by_client
    assert other_grant not in by_client
    # The tabs and the Clear link keep to the kind and the filter.
    assert f'href="/admin/tokens?client_id={client.client_id}"' in by_client
    assert (
        f'href="/admin/tokens?kind=refresh_token&amp;client_id={client.client_id}"'
        in by_client
    )
    assert '<a href="/admin/tokens?kind=refresh_token">Clear</a>' in by_client

    by_user = text(await pages.get("/admin/tokens?kind=refresh_token&username=bob"))
    assert bob_grant in by_user
    assert alice_grant not in by_user
    assert other_grant not in by_user

    nobody = text(await pages.get("/admin/tokens?kind=refresh_token&username=nobody"))
    assert alice_grant not in nobody
    assert "No active refresh token matches the filter." in nobody


@pytest.mark.gen_test
async def test_refresh_token_list_paging(staff_user, standard_user, login_as, gateway):
    start = utcnow()
    with database.atomic():
        for number in range(60):
            _, record = gateway.refresh_tokens.issue(
                standard_user, "paged-client", "integration:echo", f"grant-{number:02d}"
            )
            # Distinct expiry times fix the order of the rows.
            record.expires_at = start + datetime.timedelta(minutes=number + 1)
            record.save()
    pages = await login_as("sam")

    first = text(await pages.get("/admin/tokens?kind=refresh_token&username=alice"))
    assert "grant-00" in first
    assert "grant-49" in first
    assert "grant-50" not in first
    assert "Page 1 of 2 (60 in all)" in first
    assert 'href="?kind=refresh_token&amp;username=alice&amp;page=2"' in first

    second = text(
        await pages.get("/admin/tokens?kind=refresh_token&username=alice&page=2")
    )
    assert "grant-50" in second
    assert "grant-59" in second
    assert "grant-49" not in second


@pytest.mark.gen_test
async def test_unknown_kind_lists_access_tokens(
    staff_user, service_account, cc_client, login_as, gateway
):
    client, _ = cc_client
    _, record = gateway.tokens.issue(service_account, client.client_id, "")
    pages = await login_as("sam")

    response = await pages.get("/admin/tokens?kind=id_token")

    assert response.code == 200
    assert "<h1>Active access tokens</h1>" in text(response)
    assert record.jti in text(response)


@pytest.mark.gen_test
async def test_revoke_refresh_token(
    staff_user, standard_user, ac_client, login_as, oauth
):
    client, secret = ac_client
    tokens = await oauth.issue_tokens(client, secret, standard_user)
    grant_id = grant_of(tokens["refresh_token"]).grant_id
    other = await oauth.issue_tokens(client, secret, standard_user)
    assert await oauth.echo_status(tokens["access_token"]) == 200
    pages = await login_as("sam")
    await pages.get("/admin/tokens?kind=refresh_token")

    response = await pages.post("/admin/tokens/refresh/revoke", {"grant_id": grant_id})

    assert response.code == 303
    assert response.headers["Location"] == (
        "/admin/tokens?kind=refresh_token&notice=refresh_revoked"
    )
    refresh = await oauth.refresh(client, secret, tokens["refresh_token"])
    assert_oauth_error(refresh, 400, "invalid_grant")
    assert await oauth.echo_status(tokens["access_token"]) == 401
    # Another grant of the same user and client stays.
    assert await oauth.echo_status(other["access_token"]) == 200
    assert (await oauth.refresh(client, secret, other["refresh_token"])).code == 200
    listed = text(await pages.get(response.headers["Location"]))
    assert (
        "The refresh token and the access tokens of its grant were revoked." in listed
    )
    assert grant_id not in listed
    event = AuditEvent.get(AuditEvent.action == "token.revoke")
    assert event.actor == "sam"
    assert event.auth_method == "session"
    assert event.outcome == "success"
    assert event.target == grant_id
    assert event.client_id == client.client_id
    assert event.detail == (
        "refresh token of alice; access tokens revoked: 1; refresh tokens revoked: 1"
    )
    assert tokens["refresh_token"] not in event.detail


@pytest.mark.gen_test
async def test_revoke_rotated_refresh_token(
    staff_user, standard_user, ac_client, login_as, oauth
):
    # The client refreshed after the page was shown: the grant id still
    # reaches the successor and the access tokens of both.
    client, secret = ac_client
    first = await oauth.issue_tokens(client, secret, standard_user)
    grant_id = grant_of(first["refresh_token"]).grant_id
    pages = await login_as("sam")
    await pages.get("/admin/tokens?kind=refresh_token")
    second = json_body(await oauth.refresh(client, secret, first["refresh_token"]))

    response = await pages.post("/admin/tokens/refresh/revoke", {"grant_id": grant_id})

    assert response.code == 303
    refresh = await oauth.refresh(client, secret, second["refresh_token"])
    assert_oauth_error(refresh, 400, "invalid_grant")
    assert await oauth.echo_status(first["access_token"]) == 401
    assert await oauth.echo_status(second["access_token"]) == 401
    event = AuditEvent.get(AuditEvent.action == "token.revoke")
    # The rotated first refresh token is marked revoked with its successor.
    assert event.detail == (
        "refresh token of alice; access tokens revoked: 2; refresh tokens revoked: 2"
    )


@pytest.mark.gen_test
@pytest.mark.parametrize("grant_id", ["", "no-such-grant", "x" * 200])
async def test_revoke_unknown_refresh_token(
    grant_id, staff_user, standard_user, ac_client, login_as, oauth
):
    client, secret = ac_client
    tokens = await oauth.issue_tokens(client, secret, standard_user)
    pages = await login_as("sam")
    await pages.get("/admin/tokens?kind=refresh_token")

    response = await pages.post("/admin/tokens/refresh/revoke", {"grant_id": grant_id})

    assert response.code == 303
    assert response.headers["Location"] == "/admin/tokens?kind=refresh_token"
    assert AuditEvent.select().where(AuditEvent.action == "token.revoke").count() == 0
    assert (await oauth.refresh(client, secret, tokens["refresh_token"])).code == 200


@pytest.mark.gen_test
async def test_revoke_refresh_token_needs_xsrf(
    staff_user, standard_user, ac_client, login_as, oauth
):
    client, secret = ac_client
    tokens = await oauth.issue_tokens(client, secret, standard_user)
    grant_id = grant_of(tokens["refresh_token"]).grant_id
    pages = await login_as("sam")

    response = await pages.post(
        "/admin/tokens/refresh/revoke", {"grant_id": grant_id}, xsrf=False
    )

    assert response.code == 403
    assert_page_headers(response)
    assert error_code(response) == "xsrf_failed"
    assert AuditEvent.select().where(AuditEvent.action == "token.revoke").count() == 0
    assert (await oauth.refresh(client, secret, tokens["refresh_token"])).code == 200


def add_events() -> None:
    now = utcnow()
    record_event("integration.execute", "success", actor="partner-sa", target="echo")
    record_event(
        "permission.grant",
        "success",
        actor="sam",
        target="carol",
        detail="execute on echo",
    )
    record_event("user.create", "success", actor="sam", target="=HYPERLINK(1)")
    record_event("user.create", "success", actor="sam", target="old-one")
    AuditEvent.update(created_at=now - datetime.timedelta(days=3)).where(
        AuditEvent.target == "old-one"
    ).execute()


@pytest.mark.gen_test
async def test_audit_log_filters(staff_user, login_as):
    add_events()
    pages = await login_as("sam")
    everything = text(await pages.get("/admin/audit"))
    assert everything.index("=HYPERLINK(1)") < everything.index("old-one")

    by_actor = text(await pages.get("/admin/audit?actor=partner-sa"))
    assert "integration.execute" in by_actor
    assert "=HYPERLINK(1)" not in by_actor

    by_action = text(await pages.get("/admin/audit?action=user.create"))
    assert "old-one" in by_action
    assert ">carol<" not in by_action

    by_integration = text(await pages.get("/admin/audit?integration=echo"))
    assert "integration.execute" in by_integration
    assert "execute on echo" in by_integration
    assert "old-one" not in by_integration

    since = (utcnow() - datetime.timedelta(days=1)).strftime("%Y-%m-%dT%H:%M")
    recent = text(await pages.get(f"/admin/audit?action=user.create&since={since}"))
    assert "=HYPERLINK(1)" in recent
    assert "old-one" not in recent

    until = (utcnow() - datetime.timedelta(days=1)).strftime("%Y-%m-%dT%H:%M")
    older = text(await pages.get(f"/admin/audit?action=user.create&until={until}"))
    assert "old-one" in older
    assert "=HYPERLINK(1)" not in older


@pytest.mark.gen_test
async def test_audit_log_bad_time(staff_user, login_as):
    pages = await login_as("sam")
    response = await pages.get("/admin/audit?since=yesterday")
    assert response.code == 400
    assert_page_headers(response)
    assert "Use a time like 2025-01-31T14:00 (UTC)." in text(response)
    export = await pages.get("/admin/audit.csv?since=yesterday")
    assert export.code == 400


@pytest.mark.gen_test
async def test_audit_log_paging(staff_user, login_as):
    for number in range(60):
        record_event("test.event", "success", actor="bulk", target=f"t{number:02d}")
    pages = await login_as("sam")
    first = text(await pages.get("/admin/audit?actor=bulk"))
    assert ">t59<" in first
    assert ">t10<" in first
    assert ">t09<" not in first
    assert "Page 1 of 2 (60 in all)" in first
    assert 'href="?actor=bulk&amp;page=2"' in first
    second = text(await pages.get("/admin/audit?actor=bulk&page=2"))
    assert ">t09<" in second
    assert ">t00<" in second
    assert ">t10<" not in second


@pytest.mark.gen_test
async def test_audit_csv_export(staff_user, login_as):
    add_events()
    pages = await login_as("sam")
    response = await pages.get("/admin/audit.csv?action=user.create")
    assert response.code == 200
    assert response.headers["Content-Type"] == "text/csv; charset=UTF-8"
    assert response.headers["Content-Disposition"] == (
        'attachment; filename="audit-events.csv"'
    )
    rows = list(csv.reader(io.StringIO(response.body.decode("utf-8"))))
    assert rows[0][:5] == ["created_at", "actor", "auth_method", "client_id", "action"]
    targets = [row[5] for row in rows[1:]]
    assert targets == ["'=HYPERLINK(1)", "old-one"]
    export = AuditEvent.get(AuditEvent.action == "audit.export")
    assert export.actor == "sam"
    assert export.detail == "filters: action=user.create"


def test_csv_cell_escapes_formulas():
    assert csv_cell("=1+1") == "'=1+1"
    assert csv_cell("+1") == "'+1"
    assert csv_cell("-1") == "'-1"
    assert csv_cell("@SUM(A1)") == "'@SUM(A1)"
    assert csv_cell("plain") == "plain"
    assert csv_cell(None) == ""
    assert csv_cell(datetime.datetime(2025, 1, 31, 14, 0, 5)) == "2025-01-31 14:00:05"


def test_parse_time_formats():
    assert parse_time("2025-01-31T14:00") == datetime.datetime(2025, 1, 31, 14, 0)
    assert parse_time("2025-01-31") == datetime.datetime(2025, 1, 31)
    assert parse_time("31/01/2025") is None
