"""The partner API: ``POST /integrations/execute/<name>`` and ``GET /integrations``.

Covers the auth mixin (Basic per RFC 7617, Bearer per RFC 6750), its
challenges, permissions, scopes, and the audit trail of every call.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from typing import Any

import pytest
import tornado.httpclient

from auth.clients import delete_client
from handlers.gateway import Gateway
from models.clients import Client
from models.users import (
    EXECUTE,
    READ,
    STAFF,
    User,
    grant_permission,
    query_user,
    revoke_permission,
    set_active,
    set_password_hash,
)
from plugins.loader import IntegrationRegistry
from tests.conftest import PASSWORD, basic_header
from tests.oauth_support import client_credentials_token
from tests.sample_plugins import entry_point, load_with_builtins
from tests.support import (
    BASIC_CHALLENGE,
    BEARER_CHALLENGE,
    INVALID_TOKEN_CHALLENGE,
    CheckCounter,
    assert_error,
    challenges,
    committed_events,
    committed_runs,
    fetch,
    json_body,
)

Response = tornado.httpclient.HTTPResponse
UserFactory = Callable[..., User]
SA_BASIC = basic_header("partner-sa", PASSWORD)


@pytest.fixture
def registry() -> IntegrationRegistry:
    """``echo`` and a second integration, ``greet``."""
    return load_with_builtins([entry_point("greet", "GreetIntegration")])


async def execute(
    http_client: Any,
    api: str,
    name: str = "echo",
    body: str | bytes = "",
    authorization: str | None = SA_BASIC,
) -> Response:
    headers = {"Content-Type": "application/json"}
    if authorization is not None:
        headers["Authorization"] = authorization
    return await fetch(
        http_client, f"{api}/integrations/execute/{name}", "POST", body, headers
    )


def assert_unauthorized(response: Response, error: str, bearer: str) -> None:
    assert_error(response, 401, error)
    assert challenges(response) == [BASIC_CHALLENGE, bearer]
    assert "Server" not in response.headers


@pytest.mark.gen_test
async def test_echo_with_basic_service_account(
    http_client: Any, api: str, service_account: User
) -> None:
    response = await execute(http_client, api, body='{"order": 17, "items": ["a"]}')

    assert response.code == 200
    assert json_body(response) == {
        "integration": "echo",
        "principal": {
            "username": "partner-sa",
            "kind": "service_account",
            "auth_method": "basic",
            "client_id": None,
        },
        "payload": {"order": 17, "items": ["a"]},
    }
    assert len(response.headers["X-Run-Id"]) == 32
    assert len(response.headers["X-Request-Id"]) == 32
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["X-Frame-Options"] == "DENY"
    assert "Server" not in response.headers


@pytest.mark.gen_test
@pytest.mark.parametrize("kind", ["standard", STAFF])
async def test_echo_with_basic_person(
    http_client: Any, api: str, make_user: UserFactory, kind: str
) -> None:
    make_user("alice", kind, permissions={"echo": (EXECUTE,)})

    response = await execute(
        http_client, api, body="[1, 2]", authorization=basic_header("alice", PASSWORD)
    )

    assert response.code == 200
    body = json_body(response)
    assert body["principal"]["kind"] == kind
    assert body["principal"]["username"] == "alice"
    assert body["payload"] == [1, 2]


@pytest.mark.gen_test
async def test_echo_with_bearer(
    http_client: Any, api: str, cc_client: tuple[Client, str]
) -> None:
    client, secret = cc_client
    token = await client_credentials_token(http_client, api, client, secret)

    response = await execute(
        http_client, api, body='{"a": 1}', authorization="Bearer " + token
    )

    assert response.code == 200
    assert json_body(response)["principal"] == {
        "username": "partner-sa",
        "kind": "service_account",
        "auth_method": "bearer",
        "client_id": client.client_id,
    }


@pytest.mark.gen_test
async def test_basic_password_utf8_with_colons(
    http_client: Any, api: str, make_user: UserFactory
) -> None:
    password = "pä:ss:wörd✓"
    make_user("jurgen", password=password, permissions={"echo": (EXECUTE,)})

    response = await execute(
        http_client, api, authorization=basic_header("jurgen", password)
    )

    assert response.code == 200
    assert json_body(response)["principal"]["username"] == "jurgen"


@pytest.mark.gen_test
async def test_basic_scheme_case_insensitive(
    http_client: Any, api: str, service_account: User
) -> None:
    response = await execute(
        http_client, api, authorization=SA_BASIC.replace("Basic", "bASIC")
    )

    assert response.code == 200


@pytest.mark.gen_test
@pytest.mark.parametrize("body", ["", "  \n ", "{}"])
async def test_empty_body_is_empty_object(
    http_client: Any, api: str, service_account: User, body: str
) -> None:
    response = await execute(http_client, api, body=body)

    assert response.code == 200
    assert json_body(response)["payload"] == {}


@pytest.mark.gen_test
@pytest.mark.parametrize(
    "body",
    [
        b"not json",
        b'{"a": 1',
        b"\xff\xfe",
        b'{"a": NaN}',
        b"[Infinity]",
        b"[" * 100_000 + b"]" * 100_000,
    ],
    ids=["text", "truncated", "not-utf8", "nan", "infinity", "deep"],
)
async def test_body_not_json(
    http_client: Any, api: str, database_url: str, service_account: User, body: bytes
) -> None:
    response = await execute(http_client, api, body=body)

    response_body = assert_error(response, 400, "invalid_request")
    assert response_body["error_description"] == "The request body is not valid JSON."
    assert committed_runs(database_url) == []


@pytest.mark.gen_test
async def test_no_credentials(
    http_client: Any, api: str, service_account: User
) -> None:
    response = await execute(http_client, api, authorization=None)

    assert_unauthorized(response, "unauthorized", BEARER_CHALLENGE)


@pytest.mark.gen_test
@pytest.mark.parametrize(
    ("username", "password"),
    [("partner-sa", "wrong password"), ("nobody", PASSWORD), ("partner-sa", "")],
)
async def test_bad_basic_credentials(
    http_client: Any, api: str, service_account: User, username: str, password: str
) -> None:
    response = await execute(
        http_client, api, authorization=basic_header(username, password)
    )

    assert_unauthorized(response, "unauthorized", BEARER_CHALLENGE)


@pytest.mark.gen_test
@pytest.mark.parametrize(
    "authorization",
    [
        "Bearer not-a-jwt",
        "Bearer eyJhbGciOiJub25lIn0.eyJzdWIiOiJ4In0.",
        "Bearer a.b.c",
        "bearer x",
        "Bearer tök",
        "Bearer abc,def",
    ],
)
async def test_bad_bearer_token(
    http_client: Any, api: str, service_account: User, authorization: str
) -> None:
    response = await execute(http_client, api, authorization=authorization)

    assert_unauthorized(response, "invalid_token", INVALID_TOKEN_CHALLENGE)


@pytest.mark.gen_test
@pytest.mark.parametrize(
    "authorization", ["Digest username=x", "Negotiate abc", "Token abc"]
)
async def test_unsupported_scheme(
    http_client: Any, api: str, service_account: User, authorization: str
) -> None:
    response = await execute(http_client, api, authorization=authorization)

    assert_unauthorized(response, "unauthorized", BEARER_CHALLENGE)


def _b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode("ascii")


def _forged_jwt(header: dict[str, Any]) -> str:
    def part(value: dict[str, Any]) -> str:
        return base64.urlsafe_b64encode(json.dumps(value).encode()).decode().rstrip("=")

    return part(header) + "." + part({"sub": "partner-sa"}) + ".c2ln"


@pytest.mark.gen_test
@pytest.mark.parametrize(
    ("authorization", "status"),
    [
        ("", 400),
        ("   ", 400),
        ("Basic", 400),
        ("Basic ", 400),
        ("Basic !!!", 400),
        ("Basic " + _b64(b"no-colon"), 400),
        ("Basic " + _b64(b"partner-sa\x00:pw"), 400),
        ("Basic " + _b64("jürgen:pw".encode("latin-1")), 400),
        ("Basic dXNlcjpwdw", 400),
        ("Basic " + "A" * 9000, 400),
        ("Bearer", 400),
        ("Bearer " + _forged_jwt({"alg": "ES256", "typ": 7}), 401),
        ("Bearer " + _forged_jwt({"alg": "ES256", "typ": "at+jwt", "kid": []}), 401),
        ("Bearer " + _forged_jwt({"alg": "ES256", "typ": "at+jwt", "kid": 5}), 401),
        ("Bearer " + _forged_jwt({"alg": "RS256", "typ": "at+jwt", "kid": "x"}), 401),
        ("Bearer " + "eyJ" * 2000, 401),
        ("Bearer " + "eyJ" * 3000, 400),
    ],
)
async def test_malformed_authorization_never_500(
    http_client: Any, api: str, service_account: User, authorization: str, status: int
) -> None:
    response = await execute(http_client, api, authorization=authorization)

    assert response.code == status, response.body
    body = json_body(response)
    assert body["error"] in ("invalid_request", "invalid_token")
    assert "Traceback" not in response.body.decode()


@pytest.mark.gen_test
async def test_two_authorization_headers(
    http_client: Any, api: str, service_account: User
) -> None:
    headers = tornado.httputil.HTTPHeaders()
    headers.add("Authorization", SA_BASIC)
    headers.add("Authorization", "Bearer abc")

    response = await http_client.fetch(
        api + "/integrations/execute/echo",
        method="POST",
        body="",
        headers=headers,
        raise_error=False,
    )

    assert response.code == 400
    assert json_body(response)["error"] == "invalid_request"


@pytest.mark.gen_test
async def test_no_permission_is_forbidden(
    http_client: Any, api: str, make_user: UserFactory
) -> None:
    make_user("alice", permissions={"echo": (READ,), "greet": (EXECUTE,)})

    response = await execute(
        http_client, api, authorization=basic_header("alice", PASSWORD)
    )

    body = assert_error(response, 403, "forbidden")
    assert body["error_description"] == "The caller may not execute this integration."
    assert challenges(response) == []


@pytest.mark.gen_test
async def test_revoked_permission_takes_effect(
    http_client: Any, api: str, service_account: User
) -> None:
    assert (await execute(http_client, api)).code == 200

    revoke_permission(service_account, "echo", EXECUTE)

    assert_error(await execute(http_client, api), 403, "forbidden")


@pytest.mark.gen_test
async def test_token_scope_limits_integrations(
    http_client: Any,
    api: str,
    cc_client: tuple[Client, str],
    service_account: User,
) -> None:
    client, secret = cc_client
    grant_permission(service_account, "greet", EXECUTE)
    token = await client_credentials_token(
        http_client, api, client, secret, "integration:greet"
    )

    allowed = await execute(http_client, api, "greet", authorization="Bearer " + token)
    rejected = await execute(http_client, api, "echo", authorization="Bearer " + token)

    assert allowed.code == 200
    assert json_body(allowed) == {"greeting": "hello partner-sa"}
    body = assert_error(rejected, 403, "insufficient_scope")
    assert "scope" in body["error_description"]
    assert challenges(rejected) == [
        'Bearer realm="integration-gateway", error="insufficient_scope",'
        ' scope="integration:echo"'
    ]


@pytest.mark.gen_test
async def test_token_never_exceeds_current_permissions(
    http_client: Any,
    api: str,
    cc_client: tuple[Client, str],
    service_account: User,
) -> None:
    client, secret = cc_client
    token = await client_credentials_token(http_client, api, client, secret)

    revoke_permission(service_account, "echo", EXECUTE)

    response = await execute(http_client, api, authorization="Bearer " + token)
    assert_error(response, 403, "forbidden")


@pytest.mark.gen_test
@pytest.mark.parametrize("name", ["nope", "ECHO", "%00", "a" * 300])
async def test_unknown_integration(
    http_client: Any, api: str, database_url: str, service_account: User, name: str
) -> None:
    response = await execute(http_client, api, name)

    body = assert_error(response, 404, "not_found")
    assert body["error_description"] == "No integration has this name."
    events = committed_events(database_url, request_id=response.headers["X-Request-Id"])
    assert [event.outcome for event in events] == ["denied"]


@pytest.mark.gen_test
@pytest.mark.parametrize("name", ["nope", "%00", "a%0Ab"])
async def test_unknown_integration_with_bearer(
    http_client: Any, api: str, cc_client: tuple[Client, str], name: str
) -> None:
    # The bearer query reads the permission on the named integration too.
    client, secret = cc_client
    token = await client_credentials_token(http_client, api, client, secret)

    response = await execute(http_client, api, name, authorization="Bearer " + token)

    assert_error(response, 404, "not_found")


@pytest.mark.gen_test
async def test_unknown_integration_needs_credentials(
    http_client: Any, api: str, service_account: User
) -> None:
    response = await execute(http_client, api, "nope", authorization=None)

    assert_unauthorized(response, "unauthorized", BEARER_CHALLENGE)


@pytest.mark.gen_test
async def test_name_not_utf8(http_client: Any, api: str, service_account: User) -> None:
    response = await execute(http_client, api, "%ff")

    assert_error(response, 400, "invalid_request")


@pytest.mark.gen_test
async def test_get_on_execute_not_allowed(
    http_client: Any, api: str, service_account: User
) -> None:
    response = await fetch(
        http_client,
        api + "/integrations/execute/echo",
        headers={"Authorization": SA_BASIC},
    )

    assert_error(response, 405, "method_not_allowed")


@pytest.mark.gen_test
async def test_unknown_path(http_client: Any, api: str) -> None:
    response = await fetch(http_client, api + "/no/such/path")

    body = assert_error(response, 404, "not_found")
    assert body["error_description"] == "No resource at this path."


@pytest.mark.gen_test
async def test_list_integrations(
    http_client: Any, api: str, make_user: UserFactory
) -> None:
    make_user("alice", permissions={"greet": (EXECUTE,), "echo": (READ,)})

    response = await fetch(
        http_client,
        api + "/integrations",
        headers={"Authorization": basic_header("alice", PASSWORD)},
    )

    assert response.code == 200
    assert response.headers["Cache-Control"] == "no-store"
    assert json_body(response) == {
        "integrations": [
            {
                "name": "greet",
                "title": "Greet",
                "description": "Greets the caller.",
                "version": "2.0.1",
            }
        ]
    }


@pytest.mark.gen_test
async def test_list_integrations_narrowed_by_scope(
    http_client: Any,
    api: str,
    cc_client: tuple[Client, str],
    service_account: User,
) -> None:
    client, secret = cc_client
    grant_permission(service_account, "greet", EXECUTE)
    token = await client_credentials_token(
        http_client, api, client, secret, "integration:echo"
    )

    response = await fetch(
        http_client,
        api + "/integrations/",
        headers={"Authorization": "Bearer " + token},
    )

    assert response.code == 200
    names = [item["name"] for item in json_body(response)["integrations"]]
    assert names == ["echo"]


@pytest.mark.gen_test
async def test_list_integrations_needs_credentials(http_client: Any, api: str) -> None:
    response = await fetch(http_client, api + "/integrations")

    assert_unauthorized(response, "unauthorized", BEARER_CHALLENGE)


@pytest.mark.gen_test
async def test_deactivation_stops_basic_and_tokens(
    http_client: Any, api: str, cc_client: tuple[Client, str]
) -> None:
    client, secret = cc_client
    token = await client_credentials_token(http_client, api, client, secret)
    assert (await execute(http_client, api)).code == 200
    assert (await execute(http_client, api, authorization="Bearer " + token)).code == (
        200
    )

    stored = query_user("partner-sa")
    assert stored is not None
    set_active(stored, False)

    basic_response = await execute(http_client, api)
    bearer_response = await execute(http_client, api, authorization="Bearer " + token)
    assert_unauthorized(basic_response, "unauthorized", BEARER_CHALLENGE)
    assert_unauthorized(bearer_response, "invalid_token", INVALID_TOKEN_CHALLENGE)


@pytest.mark.gen_test
async def test_client_deletion_stops_tokens(
    http_client: Any, api: str, cc_client: tuple[Client, str]
) -> None:
    client, secret = cc_client
    token = await client_credentials_token(http_client, api, client, secret)

    delete_client(client)

    response = await execute(http_client, api, authorization="Bearer " + token)
    assert_unauthorized(response, "invalid_token", INVALID_TOKEN_CHALLENGE)


@pytest.mark.gen_test
async def test_repeated_basic_call_skips_bcrypt(
    http_client: Any,
    api: str,
    gateway: Gateway,
    service_account: User,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    counter = CheckCounter(gateway, monkeypatch)

    for _ in range(3):
        assert (await execute(http_client, api)).code == 200

    assert counter.calls == 1


@pytest.mark.gen_test
async def test_password_change_stops_cached_basic(
    http_client: Any,
    api: str,
    gateway: Gateway,
    service_account: User,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    assert (await execute(http_client, api)).code == 200
    counter = CheckCounter(gateway, monkeypatch)

    stored = query_user("partner-sa")
    assert stored is not None
    set_password_hash(stored, gateway.hasher.hash_now("new one!"))

    old = await execute(http_client, api)
    new = await execute(
        http_client, api, authorization=basic_header("partner-sa", "new one!")
    )
    assert_unauthorized(old, "unauthorized", BEARER_CHALLENGE)
    assert new.code == 200
    assert counter.calls == 2


@pytest.mark.gen_test
async def test_password_queue_full(
    http_client: Any, api: str, gateway: Gateway, service_account: User
) -> None:
    gateway.authenticator.max_pending = 0

    response = await execute(http_client, api)

    assert_error(response, 503, "temporarily_unavailable")
    assert response.headers["Retry-After"] == "1"


@pytest.mark.gen_test
async def test_run_and_audit_committed_before_response(
    http_client: Any,
    api: str,
    database_url: str,
    cc_client: tuple[Client, str],
    service_account: User,
) -> None:
    client, secret = cc_client
    token = await client_credentials_token(http_client, api, client, secret)

    response = await execute(
        http_client, api, body="{}", authorization="Bearer " + token
    )

    run_id = response.headers["X-Run-Id"]
    runs = committed_runs(database_url, run_id=run_id)
    assert len(runs) == 1
    run = runs[0]
    assert run.integration == "echo"
    assert run.username == "partner-sa"
    assert run.user_id == service_account.id
    assert run.auth_method == "bearer"
    assert run.client_id == client.client_id
    assert run.status == "succeeded"
    assert run.http_status == 200
    assert run.duration_ms >= 0
    assert run.error_class is None
    events = committed_events(database_url, request_id=response.headers["X-Request-Id"])
    assert len(events) == 1
    event = events[0]
    assert event.action == "integration.execute"
    assert event.outcome == "success"
    assert event.actor == "partner-sa"
    assert event.auth_method == "bearer"
    assert event.client_id == client.client_id
    assert event.target == "echo"
    assert event.remote_addr == "127.0.0.1"
    assert event.detail == f"run {run_id}: succeeded"


@pytest.mark.gen_test
async def test_forbidden_call_audited(
    http_client: Any, api: str, database_url: str, make_user: UserFactory
) -> None:
    make_user("alice")

    response = await execute(
        http_client, api, authorization=basic_header("alice", PASSWORD)
    )

    events = committed_events(database_url, request_id=response.headers["X-Request-Id"])
    assert len(events) == 1
    assert events[0].action == "integration.execute"
    assert events[0].outcome == "denied"
    assert events[0].actor == "alice"
    assert events[0].auth_method == "basic"
    assert events[0].target == "echo"
    assert events[0].detail == "no execute permission"
    assert committed_runs(database_url) == []


@pytest.mark.gen_test
async def test_authentication_failures_audited(
    http_client: Any, api: str, database_url: str, service_account: User
) -> None:
    wrong = await execute(
        http_client, api, authorization=basic_header("partner-sa", "wrong password")
    )
    bad_token = await execute(http_client, api, authorization="Bearer a.b.c")

    [basic_event] = committed_events(
        database_url, request_id=wrong.headers["X-Request-Id"]
    )
    assert basic_event.action == "auth.failure"
    assert basic_event.outcome == "failure"
    assert basic_event.actor == "partner-sa"
    assert basic_event.auth_method == "basic"
    assert basic_event.target == "/integrations/execute/echo"
    assert basic_event.remote_addr == "127.0.0.1"
    assert basic_event.detail is not None
    assert "wrong password" not in basic_event.detail
    [bearer_event] = committed_events(
        database_url, request_id=bad_token.headers["X-Request-Id"]
    )
    assert bearer_event.action == "auth.failure"
    assert bearer_event.auth_method == "bearer"
    assert bearer_event.actor is None


@pytest.mark.gen_test
async def test_last_used_recorded(
    http_client: Any, api: str, service_account: User
) -> None:
    before = query_user("partner-sa")
    assert before is not None
    assert before.last_used_at is None

    assert (await execute(http_client, api)).code == 200

    after = query_user("partner-sa")
    assert after is not None
    assert after.last_used_at is not None
