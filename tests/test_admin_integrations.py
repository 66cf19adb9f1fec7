"""Admin pages for integrations: loaded and failed plugins, the switch, runs."""

from __future__ import annotations

import importlib.metadata
import json

import pytest

from models.audit import AuditEvent
from models.integration_state import check_integration_enabled
from models.users import EXECUTE
from plugins.loader import ENTRY_POINT_GROUP, IntegrationRegistry, load_integrations
from tests.conftest import PASSWORD, basic_header
from tests.pages import assert_page_headers, text


@pytest.fixture
def registry() -> IntegrationRegistry:
    """The installed integrations plus a plugin whose module does not exist."""
    broken = importlib.metadata.EntryPoint(
        name="broken", value="no_such_module_here:Broken", group=ENTRY_POINT_GROUP
    )
    installed = list(importlib.metadata.entry_points(group=ENTRY_POINT_GROUP))
    return load_integrations([*installed, broken])


async def call_echo(http_client, base_url, path="/integrations/execute/echo"):
    return await http_client.fetch(
        base_url + path,
        method="POST" if "execute" in path else "GET",
        body="{}" if "execute" in path else None,
        headers={"Authorization": basic_header("partner-sa", PASSWORD)},
        raise_error=False,
    )


@pytest.mark.gen_test
async def test_integration_list_shows_failed(staff_user, login_as):
    pages = await login_as("sam")
    response = await pages.get("/admin/integrations")
    assert response.code == 200
    body = text(response)
    assert "Returns who called and the JSON payload it was sent." in body
    assert "1.0.0" in body
    assert "broken = no_such_module_here:Broken" in body
    assert "import failed: ModuleNotFoundError" in body


@pytest.mark.gen_test
async def test_disable_integration(
    staff_user, service_account, login_as, http_client, base_url
):
    assert (await call_echo(http_client, base_url)).code == 200
    pages = await login_as("sam")
    await pages.get("/admin/integrations/echo")
    response = await pages.post("/admin/integrations/echo/enabled", {"enabled": "0"})
    assert response.code == 303
    assert response.headers["Location"] == "/admin/integrations/echo?notice=disabled"
    assert check_integration_enabled("echo") is False

    call = await call_echo(http_client, base_url)
    assert call.code == 403
    body = json.loads(call.body)
    assert body["error"] == "integration_disabled"
    assert "disabled" in body["error_description"]
    assert call.headers["Content-Type"] == "application/json; charset=UTF-8"
    listing = await call_echo(http_client, base_url, "/integrations")
    assert json.loads(listing.body) == {"integrations": []}

    page = await pages.get("/admin/integrations/echo")
    assert 'id="integration-status">disabled<' in text(page)
    event = AuditEvent.get(AuditEvent.action == "integration.disable")
    assert event.actor == "sam"
    assert event.target == "echo"
    denied = AuditEvent.get(
        (AuditEvent.action == "integration.execute") & (AuditEvent.outcome == "denied")
    )
    assert denied.detail == "integration disabled"


@pytest.mark.gen_test
async def test_enable_integration_again(
    staff_user, service_account, login_as, http_client, base_url
):
    pages = await login_as("sam")
    await pages.get("/admin/integrations/echo")
    await pages.post("/admin/integrations/echo/enabled", {"enabled": "0"})
    response = await pages.post("/admin/integrations/echo/enabled", {"enabled": "1"})
    assert response.code == 303
    assert (await call_echo(http_client, base_url)).code == 200
    assert AuditEvent.get(AuditEvent.action == "integration.enable").actor == "sam"


@pytest.mark.gen_test
async def test_switch_unknown_integration(staff_user, login_as):
    pages = await login_as("sam")
    await pages.get("/admin/integrations")
    response = await pages.post("/admin/integrations/nope/enabled", {"enabled": "0"})
    assert response.code == 404
    assert_page_headers(response)


@pytest.mark.gen_test
async def test_integration_page_runs_and_holders(
    staff_user, service_account, login_as, http_client, base_url
):
    call = await call_echo(http_client, base_url)
    run_id = call.headers["X-Run-Id"]
    pages = await login_as("sam")
    page = text(await pages.get("/admin/integrations/echo"))
    assert run_id in page
    assert "partner-sa" in page
    assert EXECUTE in page
