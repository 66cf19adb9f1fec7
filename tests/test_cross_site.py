"""Requests a browser forges for another site, and bodies no JSON client sends."""

from __future__ import annotations

from typing import Any

import pytest

from models.users import User
from tests.conftest import PASSWORD, basic_header
from tests.support import assert_error, committed_runs, fetch, json_body

SA_BASIC = basic_header("partner-sa", PASSWORD)


@pytest.fixture
def api(api: str, service_account: User) -> str:
    """The base URL of the served application, with ``partner-sa`` in place."""
    return api


async def execute(http_client: Any, api: str, body: str, **headers: str) -> Any:
    headers = {"Authorization": SA_BASIC, **headers}
    return await fetch(
        http_client, api + "/integrations/execute/echo", "POST", body, headers
    )


@pytest.mark.gen_test
@pytest.mark.parametrize(
    "headers",
    [
        {"Origin": "http://attacker.example"},
        {"Origin": "null"},
        {"Sec-Fetch-Site": "cross-site"},
        {"Sec-Fetch-Site": "same-site"},
    ],
)
async def test_cross_site_call_rejected(
    http_client: Any, api: str, database_url: str, headers: dict[str, str]
) -> None:
    response = await execute(http_client, api, "{}", **headers)

    assert_error(response, 403, "cross_site_request")
    assert committed_runs(database_url) == []


@pytest.mark.gen_test
async def test_same_origin_call_allowed(http_client: Any, api: str) -> None:
    origin = api.rsplit("/", 0)[0]
    response = await execute(
        http_client,
        api,
        '{"a": 1}',
        Origin=origin,
        **{"Sec-Fetch-Site": "same-origin", "Content-Type": "application/json"},
    )

    assert response.code == 200, response.body
    assert json_body(response)["payload"] == {"a": 1}


MULTIPART_BODY = (
    '--x\r\nContent-Disposition: form-data; name="a"\r\n\r\n{"stolen": 1}\r\n--x--\r\n'
)


@pytest.mark.gen_test
@pytest.mark.parametrize(
    ("media_type", "body"),
    [
        ("text/plain", '{"stolen": "="}'),
        ("multipart/form-data; boundary=x", MULTIPART_BODY),
    ],
)
async def test_form_encoding_rejected(
    http_client: Any, api: str, database_url: str, media_type: str, body: str
) -> None:
    response = await execute(http_client, api, body, **{"Content-Type": media_type})

    error = assert_error(response, 415, "unsupported_media_type")
    assert "application/json" in error["error_description"]
    assert committed_runs(database_url) == []


@pytest.mark.gen_test
async def test_curl_default_form_type_allowed(http_client: Any, api: str) -> None:
    response = await execute(
        http_client,
        api,
        '{"a": 2}',
        **{"Content-Type": "application/x-www-form-urlencoded"},
    )

    assert response.code == 200, response.body
    assert json_body(response)["payload"] == {"a": 2}


@pytest.mark.gen_test
@pytest.mark.parametrize("body", ["1e999", '{"a": -1e999}', "[1e400]"])
async def test_overflowing_number_is_invalid(
    http_client: Any, api: str, database_url: str, body: str
) -> None:
    response = await execute(
        http_client, api, body, **{"Content-Type": "application/json"}
    )

    assert_error(response, 400, "invalid_request")
    assert committed_runs(database_url) == []


@pytest.mark.gen_test
@pytest.mark.parametrize("name", ["ech%00o", "ECHO", "echo%20", "-echo", "a" * 65])
async def test_invalid_integration_name_not_found(
    http_client: Any, api: str, name: str
) -> None:
    response = await fetch(
        http_client,
        f"{api}/integrations/execute/{name}",
        "POST",
        "{}",
        {"Authorization": SA_BASIC, "Content-Type": "application/json"},
    )

    assert_error(response, 404, "not_found")
