"""The token list and the audit log of the admin console."""

from __future__ import annotations

import csv
import datetime
import io
import json

import pytest

from handlers.admin.audit import csv_cell, parse_time
from models.audit import AuditEvent, record_event
from models.base import utcnow
from tests.pages import assert_page_headers, text


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
