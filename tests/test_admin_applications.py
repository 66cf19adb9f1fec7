"""The OAuth 2.0 application pages: add, edit, new secret, delete."""

from __future__ import annotations

import datetime
import json
import re
import time
import urllib.parse

import pytest
import tornado.web

from auth.clients import digest_secret
from handlers.admin import applications
from handlers.application import run_housekeeping
from models.audit import AuditEvent
from models.base import utcnow
from models.clients import Client, query_client
from models.secret_rotations import (
    NONCE_LIFETIME_DAYS,
    SecretRotation,
    query_secret_rotation,
)
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


def secret_nonce(response) -> str:
    """Return the nonce of the New secret form on a page."""
    match = re.search(r'name="nonce" value="([^"]+)"', text(response))
    assert match, "no New secret form on the page"
    return match.group(1)


async def open_secret_form(pages: PageClient, client_id: str) -> str:
    """Open an application's page and return the nonce of its New secret form."""
    response = await pages.get(f"/admin/applications/{client_id}")
    assert response.code == 200
    return secret_nonce(response)


def rotation_events() -> int:
    return (
        AuditEvent.select().where(AuditEvent.action == "client.rotate_secret").count()
    )


@pytest.mark.gen_test
async def test_new_secret_replaces_old(staff_user, cc_client, login_as, oauth):
    client, old_secret = cc_client
    pages = await login_as("sam")
    nonce = await open_secret_form(pages, client.client_id)
    response = await pages.post(
        f"/admin/applications/{client.client_id}/secret", {"nonce": nonce}
    )
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
    event = AuditEvent.get(AuditEvent.action == "client.rotate_secret")
    assert event.actor == "sam"
    assert event.target == client.client_id
    assert new_secret not in (event.detail or "")
    rotation = SecretRotation.get(SecretRotation.client == client.id)
    assert rotation.rotated_by == "sam"
    assert new_secret not in rotation.nonce


@pytest.mark.gen_test
async def test_secret_form_used_twice(staff_user, cc_client, login_as, oauth):
    client, _ = cc_client
    pages = await login_as("sam")
    nonce = await open_secret_form(pages, client.client_id)
    path = f"/admin/applications/{client.client_id}/secret"
    first = await pages.post(path, {"nonce": nonce})
    assert first.code == 200
    secret = input_value(first, "client_secret")
    digest = query_client(client.client_id).secret_digest

    again = await pages.post(path, {"nonce": nonce})
    assert again.code == 200
    assert_page_headers(again)
    body = text(again)
    assert 'id="secret-replaced"' in body
    assert "This form was already used" in body
    assert "sam replaced the client secret with it at" in body
    assert "cannot be shown again" in body
    assert 'id="client_secret"' not in body
    assert secret not in body
    assert query_client(client.client_id).secret_digest == digest
    assert rotation_events() == 1
    still = await oauth.request_client_credentials(client.client_id, secret)
    assert still.code == 200

    # The page offers a fresh form, which replaces the secret once more.
    fresh_nonce = secret_nonce(again)
    assert fresh_nonce != nonce
    rotated_again = await pages.post(path, {"nonce": fresh_nonce})
    assert rotated_again.code == 200
    newest = input_value(rotated_again, "client_secret")
    assert newest != secret
    assert rotation_events() == 2
    old = await oauth.request_client_credentials(client.client_id, secret)
    assert old.code == 401
    repeated = await pages.post(path, {"nonce": fresh_nonce})
    assert repeated.code == 200
    assert "This form was already used" in text(repeated)
    assert newest not in text(repeated)
    assert rotation_events() == 2


@pytest.mark.gen_test
async def test_secret_form_parallel_submission(
    staff_user, cc_client, login_as, monkeypatch
):
    # The second of two parallel submissions finds no rotation yet and fails
    # on the unique nonce instead.
    client, _ = cc_client
    pages = await login_as("sam")
    nonce = await open_secret_form(pages, client.client_id)
    path = f"/admin/applications/{client.client_id}/secret"
    assert (await pages.post(path, {"nonce": nonce})).code == 200
    digest = query_client(client.client_id).secret_digest
    lookups: list[str] = []

    def query_after_race(value: str) -> SecretRotation | None:
        lookups.append(value)
        return None if len(lookups) == 1 else query_secret_rotation(value)

    monkeypatch.setattr(applications, "query_secret_rotation", query_after_race)
    response = await pages.post(path, {"nonce": nonce})
    assert response.code == 200
    assert "This form was already used" in text(response)
    stored = SecretRotation.get(SecretRotation.client == client.id)
    assert lookups == [stored.nonce, stored.nonce]
    assert query_client(client.client_id).secret_digest == digest
    assert rotation_events() == 1


@pytest.mark.gen_test
async def test_secret_form_of_deleted_client(
    staff_user, cc_client, login_as, monkeypatch
):
    client, _ = cc_client
    pages = await login_as("sam")
    nonce = await open_secret_form(pages, client.client_id)

    def delete_client_first(value: str) -> SecretRotation | None:
        # Another staff member deletes the client after it was loaded.
        Client.delete().where(Client.id == client.id).execute()
        return query_secret_rotation(value)

    monkeypatch.setattr(applications, "query_secret_rotation", delete_client_first)
    response = await pages.post(
        f"/admin/applications/{client.client_id}/secret", {"nonce": nonce}
    )
    assert response.code == 404
    assert_page_headers(response)
    assert error_code(response) == "not_found"
    assert 'id="client_secret"' not in text(response)
    assert SecretRotation.select().count() == 0
    assert rotation_events() == 0


def expired_nonce(app, client_id: str) -> str:
    created = time.time() - (NONCE_LIFETIME_DAYS * 86400 + 60)
    value = tornado.web.create_signed_value(
        app.settings["cookie_secret"],
        applications.SECRET_NONCE_NAME,
        f"{client_id}|{'n' * 43}",
        clock=lambda: created,
    )
    return value.decode("ascii")


@pytest.mark.gen_test
@pytest.mark.parametrize(
    "case", ["missing", "empty", "changed", "other client", "expired", "NUL"]
)
async def test_secret_form_bad_nonce(
    case, staff_user, cc_client, make_client, service_account, login_as, app
):
    client, _ = cc_client
    other, _ = make_client(name="Other", service_account=service_account)
    pages = await login_as("sam")
    nonce = await open_secret_form(pages, client.client_id)
    forms = {
        "missing": {},
        "empty": {"nonce": ""},
        "changed": {"nonce": nonce[:-1] + ("A" if nonce[-1] != "A" else "B")},
        "other client": {"nonce": await open_secret_form(pages, other.client_id)},
        "expired": {"nonce": expired_nonce(app, client.client_id)},
        "NUL": {"nonce": nonce[:10] + "\x00" + nonce[10:]},
    }
    digest = query_client(client.client_id).secret_digest

    response = await pages.post(
        f"/admin/applications/{client.client_id}/secret", forms[case]
    )
    assert response.code == 400
    assert_page_headers(response)
    assert error_code(response) == "invalid_request"
    assert "The New secret form has expired or was changed" in text(response)
    assert 'id="client_secret"' not in text(response)
    assert query_client(client.client_id).secret_digest == digest
    assert rotation_events() == 0
    assert SecretRotation.select().count() == 0
    # The form of the page is still unused and works.
    fresh = await pages.post(
        f"/admin/applications/{client.client_id}/secret", {"nonce": nonce}
    )
    assert fresh.code == 200


def test_housekeeping_deletes_old_rotations(gateway, cc_client, staff_user):
    client, _ = cc_client
    now = utcnow()
    old = now - datetime.timedelta(days=NONCE_LIFETIME_DAYS, minutes=1)
    recent = now - datetime.timedelta(days=NONCE_LIFETIME_DAYS, minutes=-1)
    SecretRotation.create(nonce="old", client=client, rotated_by="sam", rotated_at=old)
    SecretRotation.create(
        nonce="recent", client=client, rotated_by="sam", rotated_at=recent
    )

    run_housekeeping(gateway)

    assert [row.nonce for row in SecretRotation.select()] == ["recent"]


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
