"""The pages in a real browser: headless Chromium against a ``server.py`` process.

Without ``/usr/bin/chromium`` these tests are skipped, unless
``GATEWAY_REQUIRE_BROWSER=1`` makes them fail. Each main page is saved as a
screenshot under ``test-artifacts/`` (git-ignored).
"""

from __future__ import annotations

from typing import Any

import pytest
import requests
from oauthlib.oauth2 import BackendApplicationClient
from requests_oauthlib import OAuth2Session

from tests.e2e import CREATE_CC_APP
from tests.pages import log_in, screenshot

STAFF_PASSWORD = "staff password 123"
PERSON_PASSWORD = "person password 123"

pytestmark = [pytest.mark.browser, pytest.mark.e2e]


@pytest.fixture
def server(gateway_process: Any) -> Any:
    gateway_process.cli(
        "create-user", "admin", "--staff", "--password-stdin", stdin=STAFF_PASSWORD
    )
    gateway_process.cli(
        "create-user", "carol", "--password-stdin", stdin=PERSON_PASSWORD
    )
    gateway_process.start()
    return gateway_process


def create_service_account(page: Any, base_url: str, request: Any) -> str:
    """Create ``partner-sa`` on the pages; return its generated password."""
    page.click("nav >> text=Users")
    page.click("#add-user")
    page.fill("#username", "partner-sa")
    page.check("#kind-service_account")
    page.fill("#vendor", "Acme Payments")
    page.click("#create")
    password = page.input_value("#generated-password")
    assert len(password) >= 40
    screenshot(page, request, "service-account-password")
    page.click("#continue")
    return password


def grant_execute_on_echo(page: Any, request: Any) -> None:
    page.check("#perm-echo-execute")
    page.click("#save-permissions")
    assert "The permissions were saved." in page.inner_text("#notice")
    assert page.is_checked("#perm-echo-execute")
    screenshot(page, request, "user")


def add_application(page: Any, base_url: str, request: Any) -> tuple[str, str]:
    """Add a Client Credentials application; return its Client ID and secret."""
    page.click("nav >> text=Applications")
    page.click("#add-application")
    client_id = page.input_value("#client_id")
    client_secret = page.input_value("#client_secret")
    assert "will not be shown again" in page.inner_text("#secret-warning")
    page.check("#grant-client_credentials")
    page.fill("#name", "Acme ERP")
    page.select_option("#service_account", label="partner-sa (Acme Payments)")
    screenshot(page, request, "add-application")
    page.click("#save")

    assert page.url.startswith(f"{base_url}/admin/applications/{client_id}")
    assert client_secret not in page.content()
    page.reload()
    assert client_id in page.content()
    assert client_secret not in page.content()
    screenshot(page, request, "application")
    return client_id, client_secret


def test_staff_sets_up_partner(
    page: Any, server: Any, request: pytest.FixtureRequest, monkeypatch: Any
) -> None:
    base_url = server.base_url
    page.goto(base_url + "/login")
    log_in(page, "admin", STAFF_PASSWORD)
    assert page.url == base_url + "/admin/"
    screenshot(page, request, "dashboard")

    sa_password = create_service_account(page, base_url, request)
    grant_execute_on_echo(page, request)
    client_id, client_secret = add_application(page, base_url, request)

    # The partner system: a token with requests-oauthlib, then a call.
    monkeypatch.setenv("OAUTHLIB_INSECURE_TRANSPORT", "1")  # loopback only
    session = OAuth2Session(client=BackendApplicationClient(client_id=client_id))
    token = session.fetch_token(
        token_url=base_url + "/o/token/",
        client_id=client_id,
        client_secret=client_secret,
    )
    assert token["token_type"] == "Bearer"
    response = session.post(base_url + "/integrations/execute/echo", json={"n": 1})
    assert response.status_code == 200
    body = response.json()
    assert body["principal"]["username"] == "partner-sa"
    assert body["principal"]["client_id"] == client_id
    assert body["payload"] == {"n": 1}

    basic = requests.post(
        base_url + "/integrations/execute/echo",
        auth=("partner-sa", sa_password),
        json={},
        timeout=10,
    )
    assert basic.status_code == 200

    for name, label in (
        ("integrations", "Integrations"),
        ("tokens", "Tokens"),
        ("audit", "Audit log"),
        ("dashboard-after", "Dashboard"),
    ):
        page.click(f"nav >> text={label}")
        screenshot(page, request, name)
    page.click("nav >> text=Tokens")
    assert client_id in page.inner_text("#tokens")
    assert "partner-sa" in page.inner_text("#tokens")
    assert token["access_token"] not in page.content()
    # A client-credentials token comes without a refresh token.
    page.click("#refresh-tokens-tab")
    assert page.inner_text("h1") == "Active refresh tokens"
    assert "No active refresh token." in page.content()
    assert "client.create" in page.goto(base_url + "/admin/audit").text()
    assert page.problems == []


def test_standard_user_kept_out(
    page: Any, server: Any, request: pytest.FixtureRequest
) -> None:
    base_url = server.base_url
    page.goto(base_url + "/login")
    log_in(page, "carol", PERSON_PASSWORD)
    assert page.url == base_url + "/"
    assert "Your integrations" in page.inner_text("h1")
    assert page.locator("nav >> text=Dashboard").count() == 0
    screenshot(page, request, "own-page")

    response = page.goto(base_url + "/admin/")
    assert response.status == 403
    assert "Only staff members may use the admin console." in page.content()
    screenshot(page, request, "forbidden")
    response = page.goto(base_url + "/admin/applications/new")
    assert response.status == 403

    page.click("text=Log out")
    assert page.url == base_url + "/login"
    response = page.goto(base_url + "/")
    assert page.url.startswith(base_url + "/login?next=")
    screenshot(page, request, "login")


def test_login_page_rejects_service_account(
    page: Any, gateway_process: Any, request: pytest.FixtureRequest
) -> None:
    created = gateway_process.cli_json("create-user", "robot", "--service-account")
    base_url = gateway_process.start()
    page.goto(base_url + "/login")
    log_in(page, "robot", created["password"])
    assert page.url == base_url + "/login"
    assert "Service accounts cannot log in" in page.inner_text("#login-error")
    screenshot(page, request, "login-service-account")


def request_token(base_url: str, client_id: str, secret: str) -> requests.Response:
    return requests.post(
        base_url + "/o/token/",
        data={"grant_type": "client_credentials"},
        auth=(client_id, secret),
        timeout=10,
    )


def test_reload_of_new_secret_page(
    page: Any, gateway_process: Any, request: pytest.FixtureRequest
) -> None:
    """Reloading the page that showed a new secret replaces nothing."""
    gateway_process.cli(
        "create-user", "admin", "--staff", "--password-stdin", stdin=STAFF_PASSWORD
    )
    gateway_process.cli("create-user", "partner-sa", "--service-account")
    gateway_process.cli("grant", "partner-sa", "echo")
    app = gateway_process.cli_json(*CREATE_CC_APP, "--name", "Acme ERP")
    client_id = app["client_id"]
    base_url = gateway_process.start()
    page.goto(base_url + "/login")
    log_in(page, "admin", STAFF_PASSWORD)
    page.goto(f"{base_url}/admin/applications/{client_id}")

    page.click("#new-secret")
    secret = page.input_value("#client_secret")
    assert "will not be shown again" in page.inner_text("[role=alert]")
    screenshot(page, request, "new-secret")
    response = page.reload()
    assert response is not None
    assert response.status == 200
    assert response.request.method == "POST"
    assert page.locator("#client_secret").count() == 0
    assert "This form was already used" in page.inner_text("#secret-replaced")
    assert secret not in page.content()
    screenshot(page, request, "new-secret-reloaded")
    assert request_token(base_url, client_id, secret).status_code == 200

    with page.expect_navigation():
        page.click("#new-secret")
    newest = page.input_value("#client_secret")
    assert newest != secret
    assert request_token(base_url, client_id, secret).status_code == 401
    assert request_token(base_url, client_id, newest).status_code == 200
    response = page.reload()
    assert response is not None
    assert response.request.method == "POST"
    assert page.locator("#client_secret").count() == 0
    assert page.is_visible("#secret-replaced")
    assert request_token(base_url, client_id, newest).status_code == 200

    page.click("#continue")
    assert page.url == f"{base_url}/admin/applications/{client_id}"
    page.goto(base_url + "/admin/audit?action=client.rotate_secret")
    assert page.locator("#audit-events tbody tr").count() == 2
    assert page.problems == []
    log = gateway_process.log()
    assert secret not in log
    assert newest not in log
