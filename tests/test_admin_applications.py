"""The OAuth 2.0 application pages: add, edit, new secret, delete."""

from __future__ import annotations

import json
import re
import urllib.parse

import pytest

from auth.clients import digest_secret
from models.audit import AuditEvent
from models.clients import Client, query_client
from tests.pages import (
    PageClient,
    assert_page_headers,
    error_code,
    field_error,
    text,
)


def input_value(response, element_id: str) -> str:
    match = re.search(rf'id="{element_id}" value="([^"]*)"', text(response))
    assert match, f"no input {element_id}"
    return match.group(1)


async def open_new_form(
    pages: PageClient, client_type: str = "confidential"
) -> tuple[str, str, str]:
    """Open Add Application for a client type; return the Client ID, the
    secret ("" for a public client) and the signed credentials."""
    response = await pages.get(f"/admin/applications/new?client_type={client_type}")
    assert response.code == 200
    pending = re.search(r'name="pending" value="([^"]+)"', text(response))
    assert pending
    secret = ""
    if client_type == "confidential":
        secret = input_value(response, "client_secret")
    else:
        assert 'id="client_secret"' not in text(response)
    return input_value(response, "client_id"), secret, pending.group(1)


def cc_form(pending: str, account_id: int, **fields: str) -> dict[str, str]:
    form = {
        "pending": pending,
        "name": "Partner ERP",
        "client_type": "confidential",
        "grant_types": "client_credentials",
        "redirect_uris": "",
        "service_account": str(account_id),
    }
    form.update(fields)
    return form


@pytest.mark.gen_test
async def test_add_application_flow(
    staff_user, service_account, login_as, oauth, gateway
):
    pages = await login_as("sam")
    client_id, secret, pending = await open_new_form(pages)
    assert len(secret) >= 43
    page = text(await pages.get("/admin/applications/new"))
    assert page.index('id="client_id"') < page.index('id="client_secret"')
    assert "will not be shown again" in page

    response = await pages.post(
        "/admin/applications/new", cc_form(pending, service_account.id)
    )
    assert response.code == 303
    location = f"/admin/applications/{client_id}?notice=created"
    assert response.headers["Location"] == location

    client = query_client(client_id)
    assert client.name == "Partner ERP"
    assert client.service_account_id == service_account.id
    assert client.created_by_id == staff_user.id
    assert client.secret_digest == digest_secret(gateway.client_secret_key, secret)
    assert secret not in client.secret_digest

    reloaded = await pages.get(f"/admin/applications/{client_id}")
    assert reloaded.code == 200
    assert_page_headers(reloaded)
    assert client_id in text(reloaded)
    assert secret not in text(reloaded)

    token_response = await oauth.request_client_credentials(client_id, secret)
    assert token_response.code == 200
    token = json.loads(token_response.body)["access_token"]
    assert (await oauth.call_echo(token)).code == 200
    event = AuditEvent.get(AuditEvent.action == "client.create")
    assert event.actor == "sam"
    assert event.client_id == client_id
    assert secret not in (event.detail or "")


@pytest.mark.gen_test
async def test_add_application_errors_keep_input(staff_user, login_as):
    pages = await login_as("sam")
    client_id, secret, pending = await open_new_form(pages)
    response = await pages.post(
        "/admin/applications/new",
        {
            "pending": pending,
            "name": "Partner <ERP>",
            "client_type": "confidential",
            "grant_types": "client_credentials",
            "redirect_uris": "http://partner.example/callback",
            "service_account": "",
        },
    )
    assert response.code == 422
    assert_page_headers(response)
    assert "must use https, or http on a loopback address" in field_error(
        response, "redirect_uris"
    )
    assert "needs a service account" in field_error(response, "service_account")
    body = text(response)
    assert 'value="Partner &lt;ERP&gt;"' in body
    assert "http://partner.example/callback</textarea>" in body
    assert 'id="grant-client_credentials" checked' in body
    # The same generated pair is shown again, so a copied secret stays right.
    assert input_value(response, "client_id") == client_id
    assert input_value(response, "client_secret") == secret
    assert query_client(client_id) is None


@pytest.mark.gen_test
async def test_add_application_needs_grant_type(staff_user, login_as):
    pages = await login_as("sam")
    _, _, pending = await open_new_form(pages)
    form = {"pending": pending, "name": "X", "client_type": "confidential"}
    response = await pages.post("/admin/applications/new", form)
    assert response.code == 422
    assert field_error(response, "grant_types") == "Choose at least one grant type."


@pytest.mark.gen_test
async def test_public_client_credentials_rejected(
    staff_user, service_account, login_as
):
    pages = await login_as("sam")
    client_id, _, pending = await open_new_form(pages, "public")
    form = cc_form(pending, service_account.id, client_type="public")
    response = await pages.post("/admin/applications/new", form)
    assert response.code == 422
    assert field_error(response, "grant_types") == (
        "Client credentials needs a confidential client."
    )
    assert query_client(client_id) is None


@pytest.mark.gen_test
async def test_add_application_tampered_pair(staff_user, service_account, login_as):
    pages = await login_as("sam")
    client_id, _, pending = await open_new_form(pages)
    forged = pending[:-6] + "000000"
    response = await pages.post(
        "/admin/applications/new", cc_form(forged, service_account.id)
    )
    assert response.code == 422
    assert "expired or were changed" in field_error(response, "client_id")
    assert input_value(response, "client_id") != client_id
    assert Client.select().count() == 0


@pytest.mark.gen_test
async def test_add_application_twice_saves_once(staff_user, service_account, login_as):
    pages = await login_as("sam")
    client_id, _, pending = await open_new_form(pages)
    form = cc_form(pending, service_account.id)
    first = await pages.post("/admin/applications/new", form)
    second = await pages.post("/admin/applications/new", form)
    assert first.code == 303
    assert second.code == 303
    assert second.headers["Location"] == f"/admin/applications/{client_id}"
    assert Client.select().count() == 1


@pytest.mark.gen_test
async def test_add_authorization_code_application(staff_user, login_as):
    pages = await login_as("sam")
    client_id, _, pending = await open_new_form(pages, "public")
    response = await pages.post(
        "/admin/applications/new",
        {
            "pending": pending,
            "name": "Portal",
            "client_type": "public",
            "grant_types": "authorization_code",
            "redirect_uris": "https://portal.example/cb\nhttp://127.0.0.1:9000/cb\n",
            "is_resource_server": "on",
        },
    )
    assert response.code == 303
    client = query_client(client_id)
    assert client.secret_digest is None
    assert client.redirect_uri_list == [
        "https://portal.example/cb",
        "http://127.0.0.1:9000/cb",
    ]
    assert client.is_resource_server is True


@pytest.mark.gen_test
async def test_edit_application(staff_user, cc_client, login_as):
    client, _ = cc_client
    pages = await login_as("sam")
    page = await pages.get(f"/admin/applications/{client.client_id}")
    assert 'value="Partner app"' in text(page)
    response = await pages.post(
        f"/admin/applications/{client.client_id}",
        {
            "name": "Renamed",
            "grant_types": ["client_credentials", "authorization_code"],
            "redirect_uris": "https://partner.example/cb",
            "service_account": str(client.service_account_id),
        },
    )
    assert response.code == 303, text(response)
    edited = query_client(client.client_id)
    assert edited.name == "Renamed"
    assert edited.grant_type_list == ["authorization_code", "client_credentials"]
    assert edited.redirect_uri_list == ["https://partner.example/cb"]
    event = AuditEvent.get(AuditEvent.action == "client.update")
    assert event.actor == "sam"
    assert "Renamed" in event.detail


@pytest.mark.gen_test
async def test_edit_application_error(staff_user, cc_client, login_as):
    client, _ = cc_client
    pages = await login_as("sam")
    await pages.get(f"/admin/applications/{client.client_id}")
    response = await pages.post(
        f"/admin/applications/{client.client_id}",
        {"name": "", "grant_types": "client_credentials", "service_account": ""},
    )
    assert response.code == 422
    assert field_error(response, "name") == "A name of 1 to 200 characters is required."
    assert query_client(client.client_id).name == "Partner app"


@pytest.mark.gen_test
async def test_new_secret_replaces_old(staff_user, cc_client, login_as, oauth):
    client, old_secret = cc_client
    pages = await login_as("sam")
    await pages.get(f"/admin/applications/{client.client_id}")
    response = await pages.post(f"/admin/applications/{client.client_id}/secret")
    assert response.code == 200
    assert_page_headers(response)
    new_secret = input_value(response, "client_secret")
    assert new_secret != old_secret

    old = await oauth.request_client_credentials(client.client_id, old_secret)
    assert old.code == 401
    assert json.loads(old.body)["error"] == "invalid_client"
    new = await oauth.request_client_credentials(client.client_id, new_secret)
    assert new.code == 200
    reloaded = await pages.get(f"/admin/applications/{client.client_id}")
    assert new_secret not in text(reloaded)
    assert AuditEvent.get(AuditEvent.action == "client.rotate_secret").actor == "sam"


@pytest.mark.gen_test
async def test_delete_application_revokes_tokens(
    staff_user, cc_client, login_as, oauth
):
    client, secret = cc_client
    token_response = await oauth.request_client_credentials(client.client_id, secret)
    token = json.loads(token_response.body)["access_token"]
    assert (await oauth.call_echo(token)).code == 200

    pages = await login_as("sam")
    await pages.get(f"/admin/applications/{client.client_id}")
    unconfirmed = await pages.post(f"/admin/applications/{client.client_id}/delete")
    assert unconfirmed.code == 400
    assert query_client(client.client_id) is not None

    response = await pages.post(
        f"/admin/applications/{client.client_id}/delete", {"confirm": "on"}
    )
    assert response.code == 303
    assert response.headers["Location"] == "/admin/applications?notice=deleted"
    assert query_client(client.client_id) is None
    call = await oauth.call_echo(token)
    assert call.code == 401
    assert 'error="invalid_token"' in ",".join(
        call.headers.get_list("WWW-Authenticate")
    )
    event = AuditEvent.get(AuditEvent.action == "client.delete")
    assert event.detail == "name: Partner app; access tokens revoked: 1"


@pytest.mark.gen_test
async def test_application_list(staff_user, cc_client, login_as):
    client, _ = cc_client
    pages = await login_as("sam")
    page = text(await pages.get("/admin/applications"))
    assert "Add Application +" in page
    assert client.client_id in page
    assert "partner-sa" in page
    assert urllib.parse.quote(client.client_id) in page


@pytest.mark.gen_test
async def test_public_form_has_no_secret(staff_user, login_as):
    pages = await login_as("sam")
    response = await pages.get("/admin/applications/new?client_type=public")
    assert response.code == 200
    assert_page_headers(response)
    body = text(response)
    assert 'id="client_secret"' not in body
    assert 'id="secret-warning"' not in body
    assert "A public client has no client secret" in body
    assert "<strong>Client Type</strong>: Public" in body
    assert '<option value="public" selected>' in body


@pytest.mark.gen_test
async def test_unknown_client_type_confidential(staff_user, login_as):
    pages = await login_as("sam")
    response = await pages.get("/admin/applications/new?client_type=secret")
    assert response.code == 200
    assert "<strong>Client Type</strong>: Confidential" in text(response)
    assert len(input_value(response, "client_secret")) >= 43


@pytest.mark.gen_test
async def test_public_application_never_shows_secret(staff_user, login_as):
    pages = await login_as("sam")
    client_id, _, pending = await open_new_form(pages, "public")
    response = await pages.post(
        "/admin/applications/new",
        {
            "pending": pending,
            "name": "Desktop app",
            "grant_types": "authorization_code",
            "redirect_uris": "http://127.0.0.1/cb",
        },
    )
    assert response.code == 303
    client = query_client(client_id)
    assert client.client_type == "public"
    assert client.secret_digest is None
    saved = await pages.get(f"/admin/applications/{client_id}")
    assert saved.code == 200
    assert_page_headers(saved)
    body = text(saved)
    assert "A public application has no secret" in body
    assert 'id="client_secret"' not in body
    assert 'id="new-secret"' not in body
    rotate = await pages.post(f"/admin/applications/{client_id}/secret")
    assert rotate.code == 400
    assert_page_headers(rotate)
    assert error_code(rotate) == "invalid_request"
    assert query_client(client_id).secret_digest is None


@pytest.mark.gen_test
async def test_posted_client_type_ignored(staff_user, login_as, gateway):
    # The page showed a secret, so the saved client must be the confidential
    # one that uses it, whatever client_type the form sends.
    pages = await login_as("sam")
    client_id, secret, pending = await open_new_form(pages)
    response = await pages.post(
        "/admin/applications/new",
        {
            "pending": pending,
            "name": "Portal",
            "client_type": "public",
            "grant_types": "authorization_code",
            "redirect_uris": "https://portal.example/cb",
        },
    )
    assert response.code == 303
    client = query_client(client_id)
    assert client.client_type == "confidential"
    assert client.secret_digest == digest_secret(gateway.client_secret_key, secret)
