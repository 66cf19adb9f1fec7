"""``/o/authorize/``: request checks, login, consent, decisions and redirects."""

from __future__ import annotations

import urllib.parse
from collections.abc import Callable
from typing import Any

import pytest
from tornado.httpclient import HTTPResponse

from models.audit import AuditEvent
from models.clients import AUTHORIZATION_CODE, CLIENT_CREDENTIALS, Client
from models.codes import AuthorizationCode
from models.consents import Consent
from models.users import User, revoke_permission
from plugins.base import Integration, IntegrationContext
from plugins.loader import IntegrationRegistry
from tests.conftest import ISSUER, PASSWORD
from tests.oauth_support import (
    CHALLENGE,
    ECHO_SCOPE,
    REDIRECT_URI,
    OAuthCaller,
    basic,
    json_body,
)
from tests.pages import PageClient, assert_page_headers, error_code, text

STATE = "af0ifjsldkj"


class OtherIntegration(Integration):
    name = "other"
    title = "Other"
    description = "A second integration, so that scopes can grow."
    version = "1.0.0"

    async def run(self, context: IntegrationContext, payload: Any) -> Any:
        return {}


@pytest.fixture
def other_integration(registry: IntegrationRegistry) -> None:
    """Load a second integration, ``other``, next to ``echo``."""
    registry.add(OtherIntegration(), "tests:OtherIntegration", "tests")


def authorize_path(client: Client | str, **parameters: str) -> str:
    client_id = client if isinstance(client, str) else client.client_id
    query = {
        "response_type": "code",
        "client_id": client_id,
        "redirect_uri": REDIRECT_URI,
        "scope": ECHO_SCOPE,
        "state": STATE,
        "code_challenge": CHALLENGE,
        "code_challenge_method": "S256",
    }
    query.update(parameters)
    query = {name: value for name, value in query.items() if value != "-"}
    return "/o/authorize/?" + urllib.parse.urlencode(query)


def redirect_query(response: HTTPResponse, expected_uri: str) -> dict[str, str]:
    """Assert a redirect to ``expected_uri`` and return its query parameters."""
    location = response.headers["Location"]
    base, _, query = location.partition("?")
    assert base == expected_uri
    pairs = urllib.parse.parse_qsl(query, keep_blank_values=True)
    names = [name for name, _ in pairs]
    assert len(names) == len(set(names)), location
    return dict(pairs)


def assert_error_page(response: HTTPResponse, error: str = "invalid_request") -> None:
    assert response.code == 400
    assert "Location" not in response.headers
    assert error_code(response) == error
    assert_page_headers(response)


def assert_error_redirect(
    response: HTTPResponse,
    error: str,
    status: int = 302,
    redirect_uri: str = REDIRECT_URI,
    state: str | None = STATE,
) -> None:
    assert response.code == status, text(response)[:300]
    query = redirect_query(response, redirect_uri)
    assert query["error"] == error
    assert query["iss"] == ISSUER
    assert "code" not in query
    if state is None:
        assert "state" not in query
    else:
        assert query["state"] == state


async def approve(pages: PageClient, path: str) -> HTTPResponse:
    """Open the consent page at ``path`` and approve it."""
    page = await pages.get(path)
    assert page.code == 200, text(page)[:300]
    return await pages.post("/o/authorize/", consent_fields(page, "approve"))


async def open_consent_page(pages: PageClient, client: Client) -> HTTPResponse:
    """Log alice in and open the consent page of a request by ``client``."""
    await pages.login("alice", PASSWORD)
    return await pages.get(authorize_path(client))


async def approve_and_redeem(
    pages: PageClient, oauth: OAuthCaller, client: Client, secret: str
) -> dict[str, Any]:
    """Log alice in, approve ``client`` and redeem the code; return the tokens."""
    await pages.login("alice", PASSWORD)
    query = redirect_query(await approve(pages, authorize_path(client)), REDIRECT_URI)
    return await oauth.exchange_code(query["code"], basic(client.client_id, secret))


def consent_fields(page: HTTPResponse, decision: str) -> dict[str, str]:
    """Read the hidden fields of the consent form and add the decision."""
    import re

    fields = dict(
        re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)">', text(page))
    )
    fields.pop("_xsrf", None)
    fields = {name: _unescape(value) for name, value in fields.items()}
    fields["decision"] = decision
    return fields


def _unescape(value: str) -> str:
    import html

    return html.unescape(value)


# Before the login


@pytest.mark.gen_test
async def test_anonymous_user_goes_to_login_and_back(
    pages: PageClient, ac_client: tuple[Client, str], standard_user: User
) -> None:
    client, _ = ac_client
    path = authorize_path(client)

    response = await pages.get(path)

    assert response.code == 302
    location = urllib.parse.urlsplit(response.headers["Location"])
    assert location.path == "/login"
    next_path = urllib.parse.parse_qs(location.query)["next"][0]
    assert next_path == path
    await pages.get(location.path + "?" + location.query)
    login = await pages.post(
        "/login", {"username": "alice", "password": PASSWORD, "next": next_path}
    )
    assert login.code == 303
    assert login.headers["Location"] == path
    consent = await pages.get(path)
    assert consent.code == 200


@pytest.mark.parametrize(
    "client_id", ["unknown-client", "-", "x" * 300], ids=["unknown", "missing", "long"]
)
@pytest.mark.gen_test
async def test_unknown_client_gets_error_page(
    pages: PageClient, client_id: str
) -> None:
    response = await pages.get(authorize_path(client_id))

    assert_error_page(response)


@pytest.mark.parametrize(
    "redirect_uri",
    [
        REDIRECT_URI + "/",
        "https://partner.example/Callback",
        "https://PARTNER.example/callback",
        "http://partner.example/callback",
        "https://partner.example:8443/callback",
        "https://partner.example/callback?x=1",
        "https://partner.example/callback#frag",
        "https://attacker.example/callback",
        "https://partner.example.attacker.example/callback",
        "https://attacker.example@partner.example/callback",
        "https://partner.example/callback/../other",
        "https://partner.example/%63allback",
    ],
)
@pytest.mark.gen_test
async def test_redirect_uri_mismatch_gets_error_page(
    pages: PageClient, ac_client: tuple[Client, str], redirect_uri: str
) -> None:
    client, _ = ac_client

    response = await pages.get(authorize_path(client, redirect_uri=redirect_uri))

    assert_error_page(response)
    assert "redirect URI" in text(response)


@pytest.mark.gen_test
async def test_missing_redirect_uri_with_several_registered(
    pages: PageClient, make_client: Callable[..., tuple[Client, str | None]]
) -> None:
    client, _ = make_client(
        grant_types=[AUTHORIZATION_CODE],
        redirect_uris=[REDIRECT_URI, "https://partner.example/second"],
    )

    response = await pages.get(authorize_path(client, redirect_uri="-"))

    assert_error_page(response)


@pytest.mark.parametrize("name", ["client_id", "redirect_uri"])
@pytest.mark.gen_test
async def test_repeated_client_or_redirect_gets_error_page(
    pages: PageClient, ac_client: tuple[Client, str], name: str
) -> None:
    client, _ = ac_client
    value = client.client_id if name == "client_id" else REDIRECT_URI

    response = await pages.get(
        authorize_path(client) + "&" + urllib.parse.urlencode({name: value})
    )

    assert_error_page(response)


@pytest.mark.gen_test
async def test_error_page_escapes_nothing_from_request(
    pages: PageClient,
) -> None:
    response = await pages.get(authorize_path("<script>alert(1)</script>"))

    assert_error_page(response)
    assert "<script>alert(1)" not in text(response)


@pytest.mark.parametrize(
    ("parameters", "error"),
    [
        ({"response_type": "token"}, "unsupported_response_type"),
        ({"response_type": "code token"}, "unsupported_response_type"),
        ({"response_type": "-"}, "invalid_request"),
        ({"code_challenge_method": "plain"}, "invalid_request"),
        ({"code_challenge_method": "-"}, "invalid_request"),
        ({"code_challenge": CHALLENGE[:-2]}, "invalid_request"),
        ({"code_challenge": "-"}, "invalid_request"),
        ({"code_challenge": CHALLENGE + "\n"}, "invalid_request"),
        ({"scope": "integration:unknown"}, "invalid_scope"),
        ({"scope": "admin"}, "invalid_scope"),
        ({"scope": 'integration:"echo'}, "invalid_scope"),
    ],
)
@pytest.mark.gen_test
async def test_request_errors_redirect_to_client(
    pages: PageClient,
    make_client: Callable[..., tuple[Client, str | None]],
    parameters: dict[str, str],
    error: str,
) -> None:
    # A public client: PKCE is required, so a missing challenge is an error.
    client, _ = make_client(
        client_type="public",
        grant_types=[AUTHORIZATION_CODE],
        redirect_uris=[REDIRECT_URI],
    )

    response = await pages.get(authorize_path(client, **parameters))

    assert_error_redirect(response, error)
    assert "Cache-Control" in response.headers


@pytest.mark.parametrize("name", ["state", "scope", "response_type", "code_challenge"])
@pytest.mark.gen_test
async def test_repeated_parameter_redirects_invalid_request(
    pages: PageClient, ac_client: tuple[Client, str], name: str
) -> None:
    client, _ = ac_client
    extra = urllib.parse.urlencode({name: "code" if name == "response_type" else "x"})

    response = await pages.get(authorize_path(client) + "&" + extra)

    state = None if name == "state" else STATE
    assert_error_redirect(response, "invalid_request", state=state)


@pytest.mark.gen_test
async def test_too_long_state_is_not_echoed(
    pages: PageClient, ac_client: tuple[Client, str]
) -> None:
    client, _ = ac_client

    response = await pages.get(authorize_path(client, state="s" * 1025))

    assert_error_redirect(response, "invalid_request", state=None)


@pytest.mark.gen_test
async def test_client_without_code_grant_is_unauthorized(
    pages: PageClient,
    make_client: Callable[..., tuple[Client, str | None]],
    service_account: User,
) -> None:
    client, _ = make_client(
        grant_types=[CLIENT_CREDENTIALS],
        redirect_uris=[REDIRECT_URI],
        service_account=service_account,
    )

    response = await pages.get(authorize_path(client))

    assert_error_redirect(response, "unauthorized_client")


@pytest.mark.gen_test
async def test_errors_without_state_omit_it(
    pages: PageClient, ac_client: tuple[Client, str]
) -> None:
    client, _ = ac_client

    response = await pages.get(authorize_path(client, state="-", response_type="token"))

    assert_error_redirect(response, "unsupported_response_type", state=None)


# The consent page


@pytest.mark.gen_test
async def test_consent_page_shows_client_user_and_scope(
    pages: PageClient, ac_client: tuple[Client, str], standard_user: User
) -> None:
    client, _ = ac_client
    await pages.login("alice", PASSWORD)

    response = await pages.get(authorize_path(client))

    assert response.code == 200
    assert_page_headers(response)
    body = text(response)
    assert '<span id="client-name">Partner portal</span>' in body
    assert '<strong id="consent-user">alice</strong>' in body
    assert "<strong>Echo</strong> (<code>integration:echo</code>)" in body
    assert f'<code id="redirect-uri">{REDIRECT_URI}</code>' in body
    assert 'name="_xsrf"' in body


@pytest.mark.gen_test
async def test_consent_page_escapes_state_and_uri(
    pages: PageClient,
    make_client: Callable[..., tuple[Client, str | None]],
    standard_user: User,
) -> None:
    redirect_uri = "https://partner.example/cb?a=1&b=<x>"
    client, _ = make_client(
        grant_types=[AUTHORIZATION_CODE], redirect_uris=[redirect_uri]
    )
    state = '"><script>alert(1)</script>'
    await pages.login("alice", PASSWORD)

    response = await pages.get(
        authorize_path(client, redirect_uri=redirect_uri, state=state)
    )

    body = text(response)
    assert response.code == 200
    assert "<script>alert(1)" not in body
    assert "&#34;&gt;&lt;script&gt;alert(1)&lt;/script&gt;" in body
    assert "cb?a=1&amp;b=&lt;x&gt;" in body


@pytest.mark.gen_test
async def test_scope_not_held_redirects_invalid_scope(
    pages: PageClient,
    ac_client: tuple[Client, str],
    make_user: Callable[..., User],
) -> None:
    client, _ = ac_client
    make_user("dave")
    await pages.login("dave", PASSWORD)

    response = await pages.get(authorize_path(client))
    without_scope = await pages.get(authorize_path(client, scope="-"))

    assert_error_redirect(response, "invalid_scope")
    assert_error_redirect(without_scope, "invalid_scope")


@pytest.mark.gen_test
async def test_omitted_scope_asks_for_all_held(
    pages: PageClient,
    ac_client: tuple[Client, str],
    standard_user: User,
) -> None:
    client, _ = ac_client
    await pages.login("alice", PASSWORD)

    page = await pages.get(authorize_path(client, scope="-"))

    assert page.code == 200
    assert consent_fields(page, "approve")["scope"] == ECHO_SCOPE


# Decisions


@pytest.mark.gen_test
async def test_approval_redirects_with_code_state_and_iss(
    pages: PageClient,
    oauth: OAuthCaller,
    ac_client: tuple[Client, str],
    standard_user: User,
) -> None:
    client, secret = ac_client
    await pages.login("alice", PASSWORD)

    response = await approve(pages, authorize_path(client))

    assert response.code == 303
    query = redirect_query(response, REDIRECT_URI)
    assert query["state"] == STATE
    assert query["iss"] == ISSUER
    assert len(query["code"]) >= 43
    assert set(query) == {"code", "state", "iss"}
    token = await oauth.exchange_code(query["code"], basic(client.client_id, secret))
    assert token["scope"] == ECHO_SCOPE
    events = AuditEvent.select().where(AuditEvent.action == "authorization.approve")
    assert [event.actor for event in events] == ["alice"]


@pytest.mark.gen_test
async def test_denial_redirects_access_denied(
    pages: PageClient, ac_client: tuple[Client, str], standard_user: User
) -> None:
    client, _ = ac_client
    page = await open_consent_page(pages, client)

    response = await pages.post("/o/authorize/", consent_fields(page, "deny"))

    assert_error_redirect(response, "access_denied", status=303)
    assert AuthorizationCode.select().count() == 0
    assert Consent.select().count() == 0


@pytest.mark.gen_test
async def test_decision_without_xsrf_is_forbidden(
    pages: PageClient, ac_client: tuple[Client, str], standard_user: User
) -> None:
    client, _ = ac_client
    page = await open_consent_page(pages, client)

    response = await pages.post(
        "/o/authorize/", consent_fields(page, "approve"), xsrf=False
    )

    assert response.code == 403
    assert "Location" not in response.headers
    assert error_code(response) == "xsrf_failed"
    assert AuthorizationCode.select().count() == 0


@pytest.mark.gen_test
async def test_unknown_decision_is_bad_request(
    pages: PageClient, ac_client: tuple[Client, str], standard_user: User
) -> None:
    client, _ = ac_client
    page = await open_consent_page(pages, client)

    response = await pages.post("/o/authorize/", consent_fields(page, "maybe"))

    assert response.code == 400
    assert "Location" not in response.headers
    assert AuthorizationCode.select().count() == 0


@pytest.mark.gen_test
async def test_tampered_scope_in_decision_is_checked(
    pages: PageClient,
    ac_client: tuple[Client, str],
    standard_user: User,
    other_integration: None,
) -> None:
    client, _ = ac_client
    page = await open_consent_page(pages, client)
    fields = consent_fields(page, "approve")
    fields["scope"] = "integration:echo integration:other"

    response = await pages.post("/o/authorize/", fields)

    assert_error_redirect(response, "invalid_scope", status=303)


@pytest.mark.gen_test
async def test_decision_after_logout_goes_to_login(
    pages: PageClient, ac_client: tuple[Client, str], standard_user: User
) -> None:
    client, _ = ac_client
    page = await open_consent_page(pages, client)
    fields = consent_fields(page, "approve")
    await pages.post("/logout")

    response = await pages.post("/o/authorize/", fields)

    assert response.code == 303
    location = urllib.parse.urlsplit(response.headers["Location"])
    assert location.path == "/login"
    next_path = urllib.parse.parse_qs(location.query)["next"][0]
    assert next_path.startswith("/o/authorize/?")
    assert AuthorizationCode.select().count() == 0


@pytest.mark.gen_test
async def test_public_loopback_client_gets_its_port(
    pages: PageClient, public_client: Client, standard_user: User
) -> None:
    redirect_uri = "http://127.0.0.1:49152/callback"
    await pages.login("alice", PASSWORD)

    response = await approve(
        pages, authorize_path(public_client, redirect_uri=redirect_uri)
    )

    assert response.code == 303
    assert "code" in redirect_query(response, redirect_uri)


@pytest.mark.gen_test
async def test_registered_query_is_kept(
    pages: PageClient,
    make_client: Callable[..., tuple[Client, str | None]],
    standard_user: User,
) -> None:
    redirect_uri = "https://partner.example/cb?tenant=7"
    client, _ = make_client(
        grant_types=[AUTHORIZATION_CODE], redirect_uris=[redirect_uri]
    )
    await pages.login("alice", PASSWORD)

    response = await approve(pages, authorize_path(client, redirect_uri=redirect_uri))

    location = response.headers["Location"]
    assert location.startswith("https://partner.example/cb?tenant=7&code=")


@pytest.mark.gen_test
async def test_state_with_special_characters_round_trips(
    pages: PageClient, ac_client: tuple[Client, str], standard_user: User
) -> None:
    client, _ = ac_client
    state = "a b&c=d/é?#"
    await pages.login("alice", PASSWORD)

    response = await approve(pages, authorize_path(client, state=state))

    assert redirect_query(response, REDIRECT_URI)["state"] == state


# Remembered consent


@pytest.mark.gen_test
async def test_confidential_consent_is_remembered(
    pages: PageClient, ac_client: tuple[Client, str], standard_user: User
) -> None:
    client, _ = ac_client
    await pages.login("alice", PASSWORD)
    await approve(pages, authorize_path(client))

    response = await pages.get(authorize_path(client, state="second"))

    assert response.code == 302
    query = redirect_query(response, REDIRECT_URI)
    assert query["state"] == "second"
    assert "code" in query
    events = AuditEvent.select().where(AuditEvent.detail == "remembered consent")
    assert events.count() == 1


@pytest.mark.gen_test
async def test_larger_scope_asks_again(
    pages: PageClient,
    ac_client: tuple[Client, str],
    make_user: Callable[..., User],
    other_integration: None,
) -> None:
    client, _ = ac_client
    make_user("bob", permissions={"echo": ("execute",), "other": ("execute",)})
    await pages.login("bob", PASSWORD)
    await approve(pages, authorize_path(client))

    wider = await pages.get(
        authorize_path(client, scope="integration:echo integration:other")
    )

    assert wider.code == 200
    assert 'id="approve"' in text(wider)


@pytest.mark.gen_test
async def test_public_client_consent_is_asked_every_time(
    pages: PageClient, public_client: Client, standard_user: User
) -> None:
    redirect_uri = "http://127.0.0.1/callback"
    await pages.login("alice", PASSWORD)
    await approve(pages, authorize_path(public_client, redirect_uri=redirect_uri))

    again = await pages.get(authorize_path(public_client, redirect_uri=redirect_uri))

    assert again.code == 200
    assert "cannot prove which application it is" in text(again)


@pytest.mark.gen_test
async def test_revoked_authorization_ends_tokens_and_consent(
    pages: PageClient,
    oauth: OAuthCaller,
    ac_client: tuple[Client, str],
    standard_user: User,
) -> None:
    client, secret = ac_client
    tokens = await approve_and_redeem(pages, oauth, client, secret)
    account = await pages.get("/")
    assert "Partner portal" in text(account)
    assert client.client_id in text(account)

    revoked = await pages.post(
        "/authorizations/revoke", {"client_id": client.client_id}
    )

    assert revoked.code == 303
    assert revoked.headers["Location"] == "/"
    assert "You have not authorized any application." in text(await pages.get("/"))
    assert await oauth.echo_status(tokens["access_token"]) == 401
    refresh = await oauth.refresh(client, secret, tokens["refresh_token"])
    assert refresh.code == 400
    assert (await pages.get(authorize_path(client))).code == 200


@pytest.mark.gen_test
async def test_revoke_unknown_client_is_not_found(
    pages: PageClient, standard_user: User
) -> None:
    await pages.login("alice", PASSWORD)

    response = await pages.post("/authorizations/revoke", {"client_id": "nope"})

    assert response.code == 404
    assert_page_headers(response)


@pytest.mark.gen_test
async def test_revoke_needs_xsrf(
    pages: PageClient, ac_client: tuple[Client, str], standard_user: User
) -> None:
    client, _ = ac_client
    await pages.login("alice", PASSWORD)
    await approve(pages, authorize_path(client))

    response = await pages.post(
        "/authorizations/revoke", {"client_id": client.client_id}, xsrf=False
    )

    assert response.code == 403
    assert Consent.select().count() == 1


@pytest.mark.gen_test
async def test_permission_removal_stops_user_token(
    pages: PageClient,
    oauth: OAuthCaller,
    ac_client: tuple[Client, str],
    standard_user: User,
) -> None:
    client, secret = ac_client
    tokens = await approve_and_redeem(pages, oauth, client, secret)
    revoke_permission(standard_user, "echo", "execute")

    response = await oauth.call_echo(tokens["access_token"])

    assert response.code == 403
    assert json_body(response)["error"] == "forbidden"


@pytest.mark.gen_test
async def test_stored_non_ascii_uri_is_percent_encoded(
    pages: PageClient, ac_client: tuple[Client, str]
) -> None:
    client, _ = ac_client
    stored = "https://partner.example/\u20ac"
    Client.update(redirect_uris=stored).where(Client.id == client.id).execute()

    response = await pages.get(
        authorize_path(client, redirect_uri=stored, response_type="token")
    )

    assert response.code == 302
    assert response.headers["Location"].startswith(
        "https://partner.example/%E2%82%AC?error=unsupported_response_type"
    )
