"""The core pieces behind the pages: schema, housekeeping, client updates, forms."""

from __future__ import annotations

import datetime

from auth.client_form import ApplicationForm, validate_application_form
from auth.clients import update_client
from auth.secrets import sha256_hex
from auth.sessions import SessionService
from handlers.application import run_housekeeping
from models import schema
from models.base import utcnow
from models.login_failures import LoginFailure, record_login_failure
from models.sessions import WebSession, query_live_session
from models.tokens import AccessToken
from models.users import SERVICE_ACCOUNT, STANDARD

PAGE_TABLES = {"web_session", "login_failure", "integration_state"}


def test_page_tables_created(db):
    assert PAGE_TABLES <= set(db.get_tables())


def test_page_migrations_idempotent(db, make_user, gateway):
    user = make_user("carol")
    gateway.sessions.start(user, "192.0.2.1")
    record_login_failure("carol", "192.0.2.1", None)
    for migration in schema.MIGRATIONS:
        migration(db)
    assert WebSession.select().count() == 1
    assert LoginFailure.select().count() == 1


def test_session_stored_as_digest(gateway, make_user):
    user = make_user("carol")
    session_id, session = gateway.sessions.start(user, "192.0.2.1")
    assert len(session_id) >= 43
    assert session.session_digest == sha256_hex(session_id)
    assert (
        WebSession.select().where(WebSession.session_digest == session_id).count() == 0
    )
    assert gateway.sessions.resolve(session_id).user.id == user.id
    assert gateway.sessions.resolve(session_id + "x") is None


def test_service_account_session_ignored(gateway, make_user):
    robot = make_user("robot", SERVICE_ACCOUNT)
    session_id, _ = gateway.sessions.start(robot, None)
    assert query_live_session(sha256_hex(session_id), 60) is not None
    assert gateway.sessions.resolve(session_id) is None


def test_touch_resolution_bounded():
    assert SessionService(60, 3600).touch_resolution_seconds == 12
    assert SessionService(1800, 3600).touch_resolution_seconds == 60


def test_housekeeping_deletes_old_rows(gateway, make_user):
    user = make_user("carol")
    old_id, old = gateway.sessions.start(user, None)
    live_id, _ = gateway.sessions.start(user, None)
    WebSession.update(expires_at=utcnow() - datetime.timedelta(seconds=1)).where(
        WebSession.id == old.id
    ).execute()
    record_login_failure("carol", "192.0.2.1", None)
    window = gateway.settings.login_throttle_window_seconds
    LoginFailure.update(
        created_at=utcnow() - datetime.timedelta(seconds=window + 1)
    ).execute()
    record_login_failure("carol", "192.0.2.1", None)

    run_housekeeping(gateway)

    assert WebSession.select().count() == 1
    assert gateway.sessions.resolve(live_id) is not None
    assert LoginFailure.select().count() == 1


def test_update_client_new_account_revokes_tokens(
    gateway, cc_client, service_account, make_user
):
    client, _ = cc_client
    _, record = gateway.tokens.issue(service_account, client.client_id, "")
    other = make_user("other-sa", SERVICE_ACCOUNT)
    revoked = update_client(
        client,
        name=client.name,
        grant_types=client.grant_type_list,
        redirect_uris=[],
        service_account=other,
        is_resource_server=False,
    )
    assert revoked == 1
    assert AccessToken.get(AccessToken.jti == record.jti).revoked_at is not None


def test_update_client_same_account_keeps_tokens(gateway, cc_client, service_account):
    client, _ = cc_client
    _, record = gateway.tokens.issue(service_account, client.client_id, "")
    revoked = update_client(
        client,
        name="Renamed",
        grant_types=client.grant_type_list,
        redirect_uris=[],
        service_account=service_account,
        is_resource_server=True,
    )
    assert revoked == 0
    assert AccessToken.get(AccessToken.jti == record.jti).revoked_at is None


def test_application_form_reports_every_field(db, make_user):
    person = make_user("carol", STANDARD)
    form = ApplicationForm(
        name="",
        client_type="secret",
        grant_types=["client_credentials"],
        redirect_uris="ftp://files.example/cb",
        service_account_id=str(person.id),
    )
    errors = validate_application_form(form, person)
    assert errors["name"] == "A name of 1 to 200 characters is required."
    assert errors["client_type"] == "Choose Confidential or Public."
    assert "must use https" in errors["redirect_uris"]
    assert errors["service_account"] == "Choose a service account."


def test_application_form_needs_redirect_uri(db):
    form = ApplicationForm(name="Portal", grant_types=["authorization_code"])
    errors = validate_application_form(form, None)
    assert errors == {
        "redirect_uris": "Authorization code needs at least one redirect URI."
    }


def test_application_form_valid(db, service_account):
    form = ApplicationForm(
        name="ERP",
        grant_types=["client_credentials"],
        service_account_id=str(service_account.id),
    )
    assert validate_application_form(form, service_account) == {}
