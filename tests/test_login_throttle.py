"""Throttling of failed logins per username, per address and per device."""

from __future__ import annotations

import datetime

import pytest

from auth.login_throttle import LoginAttempt, LoginThrottle
from models.audit import AuditEvent
from models.base import utcnow
from models.login_failures import LoginFailure
from tests.conftest import PASSWORD
from tests.pages import PageClient, assert_page_headers, text

MAX_FAILURES = 5
WINDOW_SECONDS = 300


@pytest.fixture
def http_server_options() -> dict[str, object]:
    """Make the test server read the client address from ``X-Real-Ip``.

    Tests pose as clients at different addresses this way; the gateway does
    the same when ``trust_proxy_headers`` is set behind a reverse proxy.
    """
    return {"xheaders": True}


class AddressClient(PageClient):
    """A page client whose requests come from ``address``."""

    def __init__(self, http_client, base_url, address: str) -> None:
        super().__init__(http_client, base_url)
        self.address = address

    async def fetch(self, path, method="GET", **kwargs):
        headers = dict(kwargs.pop("headers", {}))
        headers["X-Real-Ip"] = self.address
        return await super().fetch(path, method, headers=headers, **kwargs)


@pytest.fixture
def client_at(http_client, base_url):
    def make(address: str) -> AddressClient:
        return AddressClient(http_client, base_url, address)

    return make


async def fail_login(pages: PageClient, username: str):
    await pages.get("/login")
    return await pages.post("/login", {"username": username, "password": "wrong one"})


@pytest.mark.gen_test
async def test_username_throttled_after_failures(make_user, client_at):
    make_user("carol")
    for number in range(MAX_FAILURES):
        response = await fail_login(client_at(f"192.0.2.{number + 1}"), "carol")
        assert response.code == 422

    pages = client_at("198.51.100.7")
    await pages.get("/login")
    response = await pages.post("/login", {"username": "carol", "password": PASSWORD})
    assert response.code == 429
    assert_page_headers(response)
    retry_after = int(response.headers["Retry-After"])
    assert 1 <= retry_after <= WINDOW_SECONDS
    assert "Too many failed logins" in text(response)
    assert "gateway_session" not in pages.cookies
    event = AuditEvent.select().where(AuditEvent.detail == "throttled").get()
    assert event.outcome == "denied"
    assert event.remote_addr == "198.51.100.7"


@pytest.mark.gen_test
async def test_address_throttled_across_usernames(make_user, client_at):
    make_user("carol")
    attacker = client_at("203.0.113.9")
    for number in range(MAX_FAILURES):
        assert (await fail_login(attacker, f"guess{number}")).code == 422
    response = await attacker.post(
        "/login", {"username": "carol", "password": PASSWORD}
    )
    assert response.code == 429
    assert "Retry-After" in response.headers

    # Another address is not affected.
    elsewhere = client_at("203.0.113.10")
    await elsewhere.login("carol", PASSWORD)


@pytest.mark.gen_test
async def test_known_browser_not_locked_out(make_user, client_at):
    make_user("carol")
    carol = client_at("192.0.2.50")
    await carol.login("carol", PASSWORD)
    assert "gateway_device" in carol.cookies
    await carol.post("/logout")

    for number in range(MAX_FAILURES):
        await fail_login(client_at(f"203.0.113.{number + 1}"), "carol")
    stranger = client_at("198.51.100.1")
    await stranger.get("/login")
    blocked = await stranger.post("/login", {"username": "carol", "password": PASSWORD})
    assert blocked.code == 429

    # Carol's own browser carries the device cookie and still logs in.
    await carol.login("carol", PASSWORD)
    assert (await carol.get("/")).code == 200


@pytest.mark.gen_test
async def test_successful_logins_not_counted(make_user, client_at):
    make_user("carol")
    pages = client_at("192.0.2.1")
    for _ in range(MAX_FAILURES + 2):
        await pages.login("carol", PASSWORD)
    assert LoginFailure.select().count() == 0


@pytest.mark.gen_test
async def test_service_account_attempts_counted(make_user, client_at):
    make_user("robot", "service_account")
    pages = client_at("192.0.2.1")
    for _ in range(MAX_FAILURES):
        await pages.get("/login")
        response = await pages.post(
            "/login", {"username": "robot", "password": PASSWORD}
        )
        assert response.code == 403
    response = await pages.post("/login", {"username": "robot", "password": PASSWORD})
    assert response.code == 429


def test_throttle_per_device_cookie(db):
    throttle = LoginThrottle(max_failures=3, window_seconds=60)
    for number in range(3):
        throttle.record_failure(LoginAttempt("carol", f"192.0.2.{number}", None))
    untrusted = LoginAttempt("carol", "198.51.100.1", None)
    trusted = LoginAttempt("carol", "198.51.100.2", "device-1")
    assert throttle.check_retry_after(untrusted) is not None
    assert throttle.check_retry_after(trusted) is None

    for _ in range(3):
        throttle.record_failure(LoginAttempt("carol", "198.51.100.3", "device-1"))
    assert throttle.check_retry_after(trusted) is not None
    other_device = LoginAttempt("carol", "198.51.100.4", "device-2")
    assert throttle.check_retry_after(other_device) is None


def test_throttle_window_expires(db):
    throttle = LoginThrottle(max_failures=2, window_seconds=60)
    attempt = LoginAttempt("carol", "192.0.2.1", None)
    throttle.record_failure(attempt)
    throttle.record_failure(attempt)
    retry_after = throttle.check_retry_after(attempt)
    assert retry_after is not None
    assert 55 <= retry_after <= 60

    old = utcnow() - datetime.timedelta(seconds=61)
    LoginFailure.update(created_at=old).execute()
    assert throttle.check_retry_after(attempt) is None


def test_forget_failure(db):
    throttle = LoginThrottle(max_failures=1, window_seconds=60)
    attempt = LoginAttempt("carol", "192.0.2.1", None)
    failure_id = throttle.record_failure(attempt)
    assert throttle.check_retry_after(attempt) is not None
    throttle.forget_failure(failure_id)
    assert throttle.check_retry_after(attempt) is None
