"""``POST /o/token/`` with the client credentials grant (RFC 6749 §4.4, §5)."""

from __future__ import annotations

import json
import urllib.parse
from collections.abc import Callable
from typing import Any

import jwt
import pytest
import tornado.httpclient

from auth.clients import delete_client
from handlers.gateway import Gateway
from models.clients import AUTHORIZATION_CODE, CLIENT_CREDENTIALS, Client
from models.tokens import AccessToken
from models.users import EXECUTE, SERVICE_ACCOUNT, User, grant_permission, set_active
from plugins.loader import IntegrationRegistry
from tests.oauth_support import basic
from tests.sample_plugins import entry_point, load_with_builtins
from tests.support import (
    BASIC_CHALLENGE,
    FORM_TYPE,
    assert_error,
    assert_no_store,
    challenges,
    committed_events,
    fetch,
    form,
    json_body,
)

Response = tornado.httpclient.HTTPResponse
ClientFactory = Callable[..., tuple[Client, str | None]]
CC_BODY = "grant_type=client_credentials"


@pytest.fixture
def registry() -> IntegrationRegistry:
    """``echo`` and a second integration, ``greet``, for scope tests."""
    return load_with_builtins([entry_point("greet", "GreetIntegration")])


@pytest.fixture
def token_url(base_url: str) -> str:
    """The token endpoint of the application that pytest-tornado serves."""
    return base_url + "/o/token/"


async def request_token(
    http_client: Any,
    url: str,
    body: str = CC_BODY,
    authorization: str | None = None,
    content_type: str | None = FORM_TYPE,
) -> Response:
    headers = {}
    if authorization is not None:
        headers["Authorization"] = authorization
    if content_type is not None:
        headers["Content-Type"] = content_type
    return await fetch(http_client, url, "POST", body, headers)


def assert_token_error(response: Response, status: int, error: str) -> None:
    body = assert_error(response, status, error)
    assert_no_store(response)
    assert set(body) <= {"error", "error_description", "request_id"}
    assert body["error_description"].isascii()


@pytest.mark.gen_test
@pytest.mark.parametrize("path", ["/o/token/", "/o/token"])
async def test_basic_client_gets_token(
    http_client: Any,
    base_url: str,
    gateway: Gateway,
    cc_client: tuple[Client, str],
    path: str,
) -> None:
    client, secret = cc_client

    response = await request_token(
        http_client, base_url + path, authorization=basic(client.client_id, secret)
    )

    assert response.code == 200
    assert_no_store(response)
    body = json_body(response)
    assert set(body) == {"access_token", "token_type", "expires_in", "scope"}
    assert body["token_type"] == "Bearer"
    assert body["expires_in"] == 3600
    assert body["scope"] == "integration:echo"
    claims = gateway.tokens.decode(body["access_token"])
    assert claims["sub"] == "partner-sa"
    assert claims["client_id"] == client.client_id
    assert AccessToken.select().where(AccessToken.jti == claims["jti"]).exists()


@pytest.mark.gen_test
@pytest.mark.parametrize(
    "content_type",
    [
        "x-www-form-urlencoded",
        "application/x-www-form-urlencoded; charset=UTF-8",
        "APPLICATION/X-WWW-FORM-URLENCODED",
    ],
)
async def test_form_content_type_spellings(
    http_client: Any,
    token_url: str,
    cc_client: tuple[Client, str],
    content_type: str,
) -> None:
    client, secret = cc_client

    response = await request_token(
        http_client,
        token_url,
        authorization=basic(client.client_id, secret),
        content_type=content_type,
    )

    assert response.code == 200, response.body
    assert json_body(response)["token_type"] == "Bearer"


@pytest.mark.gen_test
async def test_body_credentials(
    http_client: Any, token_url: str, cc_client: tuple[Client, str]
) -> None:
    client, secret = cc_client
    body = form(
        grant_type="client_credentials",
        client_id=client.client_id,
        client_secret=secret,
    )

    response = await request_token(http_client, token_url, body)

    assert response.code == 200
    assert_no_store(response)
    assert json_body(response)["scope"] == "integration:echo"


@pytest.mark.gen_test
async def test_jwks_endpoint_verifies_token(
    http_client: Any, base_url: str, token_url: str, cc_client: tuple[Client, str]
) -> None:
    client, secret = cc_client
    response = await request_token(
        http_client, token_url, authorization=basic(client.client_id, secret)
    )
    token = json_body(response)["access_token"]

    jwks_response = await fetch(http_client, base_url + "/o/jwks/")

    assert jwks_response.code == 200
    jwks = jwt.PyJWKSet.from_dict(json_body(jwks_response))
    kid = jwt.get_unverified_header(token)["kid"]
    claims = jwt.decode(
        token,
        jwks[kid],
        algorithms=["ES256"],
        audience="http://127.0.0.1:8000",
        issuer="http://127.0.0.1:8000",
    )
    assert claims["sub"] == "partner-sa"


@pytest.mark.gen_test
async def test_basic_and_body_secret_rejected(
    http_client: Any, token_url: str, cc_client: tuple[Client, str]
) -> None:
    client, secret = cc_client
    body = form(
        grant_type="client_credentials",
        client_id=client.client_id,
        client_secret=secret,
    )

    response = await request_token(
        http_client, token_url, body, authorization=basic(client.client_id, secret)
    )

    assert_token_error(response, 400, "invalid_request")
    assert challenges(response) == []


@pytest.mark.gen_test
@pytest.mark.parametrize(
    ("body", "content_type", "description"),
    [
        (
            json.dumps({"grant_type": "client_credentials"}),
            "application/json",
            "The body must be application/x-www-form-urlencoded.",
        ),
        (
            "grant_type=client_credentials&scope=integration%3Aecho&scope=x",
            FORM_TYPE,
            "A parameter is repeated in the request.",
        ),
        ("scope=", FORM_TYPE, "The grant_type parameter is missing."),
    ],
    ids=["json_body", "repeated_parameter", "missing_grant_type"],
)
async def test_invalid_request_is_described(
    http_client: Any,
    token_url: str,
    cc_client: tuple[Client, str],
    body: str,
    content_type: str,
    description: str,
) -> None:
    client, secret = cc_client

    response = await request_token(
        http_client,
        token_url,
        body,
        authorization=basic(client.client_id, secret),
        content_type=content_type,
    )

    assert_token_error(response, 400, "invalid_request")
    assert json_body(response)["error_description"] == description


@pytest.mark.gen_test
@pytest.mark.parametrize("content_type", ["", "text/plain", "multipart/form-data"])
async def test_other_content_type_is_invalid_request(
    http_client: Any,
    token_url: str,
    cc_client: tuple[Client, str],
    content_type: str,
) -> None:
    client, secret = cc_client

    response = await request_token(
        http_client,
        token_url,
        authorization=basic(client.client_id, secret),
        content_type=content_type,
    )

    assert_token_error(response, 400, "invalid_request")


@pytest.mark.gen_test
async def test_query_parameters_rejected(
    http_client: Any, token_url: str, cc_client: tuple[Client, str]
) -> None:
    client, secret = cc_client
    query = urllib.parse.urlencode(
        {"client_id": client.client_id, "client_secret": secret}
    )

    response = await request_token(
        http_client,
        token_url + "?" + query,
        authorization=basic(client.client_id, secret),
    )

    assert_token_error(response, 400, "invalid_request")
    assert json_body(response)["error_description"] == (
        "Parameters are accepted only in the request body."
    )
    assert AccessToken.select().count() == 0


@pytest.mark.gen_test
@pytest.mark.parametrize("credentials", ["wrong_secret", "unknown_client", "none"])
async def test_failed_basic_authentication(
    http_client: Any, token_url: str, cc_client: tuple[Client, str], credentials: str
) -> None:
    client, _ = cc_client
    authorization = {
        "wrong_secret": basic(client.client_id, "wrong"),
        "unknown_client": basic("no-such-client", "secret"),
        "none": None,
    }[credentials]

    response = await request_token(http_client, token_url, authorization=authorization)

    assert_token_error(response, 401, "invalid_client")
    assert challenges(response) == [BASIC_CHALLENGE]


@pytest.mark.gen_test
async def test_wrong_secret_in_body(
    http_client: Any, token_url: str, cc_client: tuple[Client, str]
) -> None:
    client, _ = cc_client
    body = form(
        grant_type="client_credentials",
        client_id=client.client_id,
        client_secret="wrong",
    )

    response = await request_token(http_client, token_url, body)

    # RFC 6749 §5.2: the 401 and its challenge are required only for Basic.
    assert_token_error(response, 400, "invalid_client")
    assert challenges(response) == []


@pytest.mark.gen_test
@pytest.mark.parametrize(
    "authorization",
    ["Basic", "Basic !!!", "Basic bm8tY29sb24=", "Bearer abc", "Basic /w=="],
)
async def test_malformed_basic_header(
    http_client: Any, token_url: str, authorization: str
) -> None:
    response = await request_token(http_client, token_url, authorization=authorization)

    assert_token_error(response, 400, "invalid_request")


@pytest.mark.gen_test
async def test_client_not_allowed_grant(
    http_client: Any, token_url: str, make_client: ClientFactory
) -> None:
    client, secret = make_client(
        grant_types=[AUTHORIZATION_CODE],
        redirect_uris=["https://partner.example.com/callback"],
    )
    assert secret is not None

    response = await request_token(
        http_client, token_url, authorization=basic(client.client_id, secret)
    )

    assert_token_error(response, 400, "unauthorized_client")


@pytest.mark.gen_test
@pytest.mark.parametrize("grant_type", ["password", "urn:example:custom", "%00"])
async def test_unsupported_grant_type(
    http_client: Any, token_url: str, cc_client: tuple[Client, str], grant_type: str
) -> None:
    client, secret = cc_client

    response = await request_token(
        http_client,
        token_url,
        "grant_type=" + grant_type,
        authorization=basic(client.client_id, secret),
    )

    assert_token_error(response, 400, "unsupported_grant_type")


@pytest.mark.gen_test
async def test_client_id_with_nul_in_body(http_client: Any, token_url: str) -> None:
    body = "grant_type=client_credentials&client_id=%00&client_secret=x"

    response = await request_token(http_client, token_url, body)

    assert_token_error(response, 400, "invalid_client")


@pytest.mark.gen_test
async def test_scope_narrows_token(
    http_client: Any,
    token_url: str,
    cc_client: tuple[Client, str],
    service_account: User,
) -> None:
    client, secret = cc_client
    grant_permission(service_account, "greet", EXECUTE)
    authorization = basic(client.client_id, secret)

    full = await request_token(http_client, token_url, authorization=authorization)
    narrow = await request_token(
        http_client,
        token_url,
        form(grant_type="client_credentials", scope="integration:greet"),
        authorization=authorization,
    )

    assert json_body(full)["scope"] == "integration:echo integration:greet"
    assert narrow.code == 200
    assert json_body(narrow)["scope"] == "integration:greet"


@pytest.mark.gen_test
@pytest.mark.parametrize(
    "scope",
    [
        "integration:greet",
        "integration:echo integration:greet",
        "read",
        "integration:Echo",
        'integration:"echo"',
    ],
)
async def test_scope_beyond_account_is_invalid(
    http_client: Any, token_url: str, cc_client: tuple[Client, str], scope: str
) -> None:
    client, secret = cc_client

    response = await request_token(
        http_client,
        token_url,
        form(grant_type="client_credentials", scope=scope),
        authorization=basic(client.client_id, secret),
    )

    assert_token_error(response, 400, "invalid_scope")
    assert AccessToken.select().count() == 0


@pytest.mark.gen_test
async def test_account_without_permissions_is_invalid_scope(
    http_client: Any,
    token_url: str,
    make_user: Callable[..., User],
    make_client: ClientFactory,
) -> None:
    account = make_user("idle-sa", SERVICE_ACCOUNT)
    client, secret = make_client(service_account=account)
    assert secret is not None

    response = await request_token(
        http_client, token_url, authorization=basic(client.client_id, secret)
    )

    assert_token_error(response, 400, "invalid_scope")


@pytest.mark.gen_test
async def test_inactive_service_account(
    http_client: Any,
    token_url: str,
    cc_client: tuple[Client, str],
    service_account: User,
) -> None:
    client, secret = cc_client
    set_active(service_account, False)

    response = await request_token(
        http_client, token_url, authorization=basic(client.client_id, secret)
    )

    assert_token_error(response, 400, "unauthorized_client")
    assert AccessToken.select().count() == 0


@pytest.mark.gen_test
async def test_deleted_client_gets_no_token(
    http_client: Any, token_url: str, cc_client: tuple[Client, str]
) -> None:
    client, secret = cc_client
    delete_client(client)

    response = await request_token(
        http_client, token_url, authorization=basic(client.client_id, secret)
    )

    assert_token_error(response, 401, "invalid_client")
    assert challenges(response) == [BASIC_CHALLENGE]


@pytest.mark.gen_test
async def test_get_not_allowed(http_client: Any, token_url: str) -> None:
    response = await fetch(http_client, token_url)

    assert_token_error(response, 405, "method_not_allowed")


@pytest.mark.gen_test
async def test_issue_audited_before_response(
    http_client: Any,
    token_url: str,
    database_url: str,
    cc_client: tuple[Client, str],
) -> None:
    client, secret = cc_client

    response = await request_token(
        http_client, token_url, authorization=basic(client.client_id, secret)
    )

    request_id = response.headers["X-Request-Id"]
    events = committed_events(database_url, request_id=request_id)
    assert len(events) == 1
    event = events[0]
    assert event.action == "token.issue"
    assert event.outcome == "success"
    assert event.actor == "partner-sa"
    assert event.client_id == client.client_id
    assert event.target == CLIENT_CREDENTIALS
    assert event.remote_addr == "127.0.0.1"
    assert event.detail == "scope: integration:echo"
    claims = jwt.decode(
        json_body(response)["access_token"], options={"verify_signature": False}
    )
    assert AccessToken.get(AccessToken.jti == claims["jti"]).client_id == (
        client.client_id
    )


@pytest.mark.gen_test
async def test_client_failure_audited(
    http_client: Any,
    token_url: str,
    database_url: str,
    cc_client: tuple[Client, str],
) -> None:
    client, _ = cc_client

    response = await request_token(
        http_client, token_url, authorization=basic(client.client_id, "wrong")
    )

    events = committed_events(database_url, request_id=response.headers["X-Request-Id"])
    assert len(events) == 1
    assert events[0].action == "auth.failure"
    assert events[0].outcome == "failure"
    assert events[0].auth_method == "client"
    assert events[0].target == CLIENT_CREDENTIALS
    assert events[0].detail == "invalid_client: wrong client secret"
    assert events[0].client_id == client.client_id


@pytest.mark.gen_test
async def test_refusal_audited(
    http_client: Any,
    token_url: str,
    database_url: str,
    cc_client: tuple[Client, str],
) -> None:
    client, secret = cc_client

    response = await request_token(
        http_client,
        token_url,
        form(grant_type="client_credentials", scope="integration:greet"),
        authorization=basic(client.client_id, secret),
    )

    events = committed_events(database_url, request_id=response.headers["X-Request-Id"])
    assert len(events) == 1
    assert events[0].action == "token.issue"
    assert events[0].outcome == "failure"
    assert events[0].client_id == client.client_id
    assert events[0].detail is not None
    assert events[0].detail.startswith("invalid_scope")


@pytest.mark.gen_test
async def test_control_characters_audited_safely(
    http_client: Any, token_url: str, database_url: str
) -> None:
    body = "grant_type=a%00b%0Ac&client_id=%0Aforged"

    response = await request_token(http_client, token_url, body)

    assert_token_error(response, 400, "unsupported_grant_type")
    events = committed_events(database_url, request_id=response.headers["X-Request-Id"])
    assert len(events) == 1
    assert events[0].target == "a\\x00b\\nc"
    assert events[0].client_id == "\\nforged"
