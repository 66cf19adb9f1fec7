"""Login, sessions and logout on the pages, through a real HTTP server."""

from __future__ import annotations

import datetime
import hashlib
from collections.abc import Callable

import pytest
import tornado.web

from auth.next_path import MAX_NEXT_LENGTH, sanitize_next_path
from handlers.web import PageHandler
from models.audit import AuditEvent
from models.base import utcnow
from models.sessions import WebSession
from models.users import SERVICE_ACCOUNT, STAFF, User, set_active, set_password_hash
from tests.conftest import PASSWORD
from tests.pages import PageClient, assert_page_headers, error_code, text

INVALID = "The username or password is invalid."


@pytest.fixture
def person(make_user: Callable[..., User]) -> User:
    return make_user("carol")


@pytest.fixture
def session_of(gateway) -> Callable[[PageClient], WebSession]:
    """Return a function that reads the session row behind a client's cookie."""

    def read(pages: PageClient) -> WebSession:
        raw = tornado.web.decode_signed_value(
            gateway.cookie_secret, "gateway_session", pages.cookies["gateway_session"]
        )
        assert raw is not None
        digest = hashlib.sha256(raw).hexdigest()
        return WebSession.get(WebSession.session_digest == digest)

    return read


def set_cookie_header(response, name: str) -> str:
    for header in response.headers.get_list("Set-Cookie"):
        if header.startswith(name + "="):
            return header
    raise AssertionError(f"no Set-Cookie for {name}: {response.headers}")


@pytest.mark.gen_test
async def test_login_page_headers(pages):
    response = await pages.get("/login")
    assert response.code == 200
    assert_page_headers(response)
    assert 'name="_xsrf"' in text(response)
    cookie = set_cookie_header(response, "gateway_xsrf")
    assert "HttpOnly" in cookie
    assert "SameSite=Lax" in cookie
    assert "Secure" not in cookie


@pytest.mark.gen_test
async def test_login_starts_session(pages, session_of, person):
    response = await pages.login("carol", PASSWORD)
    assert response.headers["Location"] == "/"
    cookie = set_cookie_header(response, "gateway_session")
    assert "HttpOnly" in cookie
    assert "SameSite=Lax" in cookie
    assert "Path=/" in cookie
    assert "Secure" not in cookie
    assert "expires" not in cookie.lower()

    session = session_of(pages)
    assert session.user.id == person.id
    assert session.ended_at is None
    assert len(session.session_digest) == 64
    assert session.session_digest not in pages.cookies["gateway_session"]

    page = await pages.get("/")
    assert page.code == 200
    assert_page_headers(page)
    assert "carol" in text(page)
    event = AuditEvent.get(AuditEvent.action == "login")
    assert event.outcome == "success"
    assert event.actor == "carol"


@pytest.mark.gen_test
async def test_login_new_session_id(pages, session_of, person):
    await pages.login("carol", PASSWORD)
    first = session_of(pages)
    first_cookie = pages.cookies["gateway_session"]
    await pages.login("carol", PASSWORD)
    second = session_of(pages)
    assert pages.cookies["gateway_session"] != first_cookie
    assert second.id != first.id
    assert WebSession.get_by_id(first.id).ended_at is not None


@pytest.mark.gen_test
async def test_login_redirects_to_next(pages, person):
    await pages.get("/login?next=/%3Fshow%3D1")
    response = await pages.post(
        "/login", {"username": "carol", "password": PASSWORD, "next": "/?show=1"}
    )
    assert response.code == 303
    assert response.headers["Location"] == "/?show=1"


@pytest.mark.gen_test
async def test_anonymous_page_redirects_to_login(pages):
    response = await pages.get("/?tab=runs")
    assert response.code == 302
    assert response.headers["Location"] == "/login?next=%2F%3Ftab%3Druns"


@pytest.mark.gen_test
async def test_login_page_keeps_next(pages):
    response = await pages.get("/login?next=%2F%3Ftab%3Druns")
    assert response.code == 200
    assert 'name="next" value="/?tab=runs"' in text(response)


@pytest.mark.gen_test
async def test_login_page_when_logged_in(pages, person):
    await pages.login("carol", PASSWORD)
    response = await pages.get("/login?next=/%3Fx%3D1")
    assert response.code == 302
    assert response.headers["Location"] == "/?x=1"


@pytest.mark.gen_test
async def test_logout_ends_session(pages, session_of, person):
    await pages.login("carol", PASSWORD)
    session = session_of(pages)
    cookie = pages.cookies["gateway_session"]
    await pages.get("/")
    response = await pages.post("/logout")
    assert response.code == 303
    assert response.headers["Location"] == "/login"
    assert "gateway_session" not in pages.cookies
    assert WebSession.get_by_id(session.id).ended_at is not None

    # The old cookie no longer opens a page, even when sent again.
    pages.cookies["gateway_session"] = cookie
    again = await pages.get("/")
    assert again.code == 302
    assert again.headers["Location"].startswith("/login")
    event = AuditEvent.get(AuditEvent.action == "logout")
    assert event.actor == "carol"


@pytest.mark.gen_test
async def test_login_wrong_password(pages, person):
    await pages.get("/login")
    response = await pages.post("/login", {"username": "carol", "password": "wrong"})
    assert response.code == 422
    assert_page_headers(response)
    assert INVALID in text(response)
    assert 'value="carol"' in text(response)
    assert "gateway_session" not in pages.cookies
    event = AuditEvent.get(AuditEvent.action == "login")
    assert event.outcome == "failure"
    assert event.detail == "invalid credentials"


@pytest.mark.gen_test
async def test_login_unknown_user(pages):
    await pages.get("/login")
    response = await pages.post("/login", {"username": "nobody", "password": "x" * 9})
    assert response.code == 422
    assert INVALID in text(response)
    assert "gateway_session" not in pages.cookies


@pytest.mark.gen_test
async def test_login_missing_fields(pages):
    await pages.get("/login")
    response = await pages.post("/login", {"username": "carol"})
    assert response.code == 422
    assert "Enter your username and password." in text(response)


@pytest.mark.gen_test
async def test_login_inactive_user(pages, person):
    set_active(person, False)
    await pages.get("/login")
    response = await pages.post("/login", {"username": "carol", "password": PASSWORD})
    assert response.code == 422
    assert INVALID in text(response)
    assert "gateway_session" not in pages.cookies


@pytest.mark.gen_test
@pytest.mark.parametrize("password", [PASSWORD, "not the password"])
async def test_login_service_account_rejected(pages, make_user, password):
    make_user("robot", SERVICE_ACCOUNT)
    await pages.get("/login")
    response = await pages.post("/login", {"username": "robot", "password": password})
    assert response.code == 403
    assert_page_headers(response)
    body = text(response)
    assert "Service accounts cannot log in to the web pages." in body
    assert INVALID not in body
    assert "gateway_session" not in pages.cookies
    event = AuditEvent.get(AuditEvent.action == "login")
    assert event.outcome == "denied"


@pytest.mark.gen_test
async def test_login_without_xsrf_rejected(pages, person):
    await pages.get("/login")
    response = await pages.post(
        "/login", {"username": "carol", "password": PASSWORD}, xsrf=False
    )
    assert response.code == 403
    assert_page_headers(response)
    assert error_code(response) == "xsrf_failed"
    assert "gateway_session" not in pages.cookies


@pytest.mark.gen_test
async def test_login_with_wrong_xsrf_rejected(pages, person):
    await pages.get("/login")
    response = await pages.post(
        "/login", {"username": "carol", "password": PASSWORD, "_xsrf": "2|00|00|1"}
    )
    assert response.code == 403
    assert error_code(response) == "xsrf_failed"


@pytest.mark.gen_test
async def test_logout_without_xsrf_rejected(pages, session_of, person):
    await pages.login("carol", PASSWORD)
    session = session_of(pages)
    response = await pages.post("/logout", xsrf=False)
    assert response.code == 403
    assert error_code(response) == "xsrf_failed"
    assert WebSession.get_by_id(session.id).ended_at is None


@pytest.mark.gen_test
async def test_session_idle_expiry(pages, session_of, person, settings):
    await pages.login("carol", PASSWORD)
    session = session_of(pages)
    idle = datetime.timedelta(seconds=settings.session_idle_lifetime_seconds + 1)
    WebSession.update(last_seen_at=utcnow() - idle).where(
        WebSession.id == session.id
    ).execute()
    response = await pages.get("/")
    assert response.code == 302
    assert response.headers["Location"] == "/login?next=%2F"


@pytest.mark.gen_test
async def test_session_absolute_expiry(pages, session_of, person):
    await pages.login("carol", PASSWORD)
    session = session_of(pages)
    WebSession.update(expires_at=utcnow() - datetime.timedelta(seconds=1)).where(
        WebSession.id == session.id
    ).execute()
    response = await pages.get("/")
    assert response.code == 302


@pytest.mark.gen_test
async def test_session_touch_keeps_it_alive(pages, session_of, person, settings):
    await pages.login("carol", PASSWORD)
    session = session_of(pages)
    almost_idle = datetime.timedelta(seconds=settings.session_idle_lifetime_seconds - 5)
    WebSession.update(last_seen_at=utcnow() - almost_idle).where(
        WebSession.id == session.id
    ).execute()
    assert (await pages.get("/")).code == 200
    touched = WebSession.get_by_id(session.id)
    assert utcnow() - touched.last_seen_at < datetime.timedelta(seconds=5)


@pytest.mark.gen_test
async def test_password_change_ends_session(pages, person):
    await pages.login("carol", PASSWORD)
    set_password_hash(person, person.password_hash)
    response = await pages.get("/")
    assert response.code == 302


@pytest.mark.gen_test
async def test_deactivation_ends_session(pages, person):
    await pages.login("carol", PASSWORD)
    set_active(person, False)
    response = await pages.get("/")
    assert response.code == 302


@pytest.mark.gen_test
async def test_forged_session_cookie_ignored(pages, person):
    await pages.login("carol", PASSWORD)
    pages.cookies["gateway_session"] = pages.cookies["gateway_session"][:-4] + "0000"
    response = await pages.get("/")
    assert response.code == 302


@pytest.mark.gen_test
async def test_staff_session_shows_staff(pages, make_user):
    make_user("sam", STAFF)
    await pages.login("sam", PASSWORD)
    response = await pages.get("/")
    assert response.code == 200
    assert "sam (staff)" in text(response)


@pytest.mark.parametrize(
    "value",
    [
        "https://evil.example/",
        "http://127.0.0.1:8000/",
        "//evil.example/path",
        "/\\evil.example",
        "\\\\evil.example",
        "/\t/evil.example",
        "/\n/evil.example",
        "javascript:alert(1)",
        "data:text/html,hi",
        "evil.example",
        "",
        None,
        " /",
        "/" + "a" * MAX_NEXT_LENGTH,
        "/caf\u00e9",
    ],
)
def test_next_path_rejected(value):
    assert sanitize_next_path(value, "/home") == "/home"


@pytest.mark.parametrize(
    "value",
    [
        "/",
        "/admin/users?page=2",
        "/o/authorize?client_id=a&state=b%2Fc",
        "/" + "a" * (MAX_NEXT_LENGTH - 1),
    ],
)
def test_next_path_accepted(value):
    assert sanitize_next_path(value, "/home") == value


@pytest.mark.gen_test
@pytest.mark.parametrize(
    "value", ["https://evil.example/", "//evil.example", "/\\evil.example"]
)
async def test_login_ignores_foreign_next(pages, person, value):
    await pages.get("/login")
    response = await pages.post(
        "/login", {"username": "carol", "password": PASSWORD, "next": value}
    )
    assert response.code == 303
    assert response.headers["Location"] == "/"


class FailingPage(PageHandler):
    def get(self) -> None:
        raise RuntimeError("secret detail that must not reach the page")


@pytest.fixture
def app(gateway):
    from handlers.application import make_app

    application = make_app(gateway)
    application.add_handlers(r".*", [(r"/test-failure", FailingPage)])
    return application


@pytest.mark.gen_test
async def test_server_error_page(pages):
    response = await pages.get("/test-failure")
    assert response.code == 500
    assert_page_headers(response)
    body = text(response)
    assert error_code(response) == "server_error"
    assert response.headers["X-Request-Id"] in body
    assert "Traceback" not in body
    assert "secret detail" not in body
    assert "RuntimeError" not in body


@pytest.mark.parametrize(
    ("path", "status", "error"),
    [("/no-such-page", 404, "not_found"), ("/logout", 405, "method_not_allowed")],
)
@pytest.mark.gen_test
async def test_error_page_for_browsers(pages, path, status, error):
    response = await pages.get(path)
    assert response.code == status
    assert_page_headers(response)
    assert error_code(response) == error


@pytest.mark.gen_test
async def test_not_found_json_for_api_clients(pages):
    response = await pages.fetch(
        "/no-such-page", method="POST", body="{}", headers={"Accept": "*/*"}
    )
    assert response.code == 404
    assert response.headers["Content-Type"] == "application/json; charset=UTF-8"
    assert b'"error":"not_found"' in response.body
    assert "Content-Security-Policy" not in response.headers


@pytest.mark.gen_test
async def test_stylesheet_served(pages):
    response = await pages.get("/static/gateway.css")
    assert response.code == 200
    assert response.headers["Content-Type"] == "text/css"
    assert response.headers["X-Content-Type-Options"] == "nosniff"


@pytest.mark.gen_test
async def test_invalid_utf8_password_not_logged(
    pages, person, caplog: pytest.LogCaptureFixture
):
    await pages.get("/login")
    caplog.set_level("DEBUG")

    response = await pages.fetch(
        "/login",
        method="POST",
        body=f"_xsrf={pages.xsrf}&username=carol&password=Geheimn%FCs-2024",
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )

    assert response.code == 400
    assert "Traceback" not in text(response)
    assert "Geheimn" not in caplog.text
    assert "argument password is not valid UTF-8" in caplog.text
