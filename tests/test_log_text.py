"""Request input in log lines: clipped and escaped, whatever its size."""

from __future__ import annotations

import logging
from typing import Any

import pytest

from auth.log_text import MAX_LOG_VALUE_LENGTH, clip_for_log
from tests.conftest import basic_header
from tests.oauth_support import assert_oauth_error, post_form
from tests.support import assert_error, fetch

# Every log line fits in this many characters when request values are clipped.
MAX_LINE_LENGTH = 2000
HUGE = 400_000


@pytest.fixture
def gateway_logs(
    app: Any, caplog: pytest.LogCaptureFixture
) -> pytest.LogCaptureFixture:
    """Every record of the gateway's own loggers, DEBUG included, with ``app``."""
    caplog.set_level(logging.DEBUG, logger="integration_gateway")
    return caplog


def assert_lines_bounded(caplog: pytest.LogCaptureFixture) -> None:
    messages = [record.getMessage() for record in caplog.records]
    assert messages, "the request wrote no log line"
    longest = max(len(message) for message in messages)
    assert longest <= MAX_LINE_LENGTH, longest


def test_short_value_unchanged() -> None:
    assert clip_for_log("client-1") == "client-1"


def test_long_value_clipped_with_length() -> None:
    clipped = clip_for_log("a" * HUGE)

    assert clipped.startswith("a" * MAX_LOG_VALUE_LENGTH + "...")
    assert clipped.endswith(f"({HUGE} characters)")
    assert len(clipped) < MAX_LOG_VALUE_LENGTH + 30


def test_line_breaks_escaped() -> None:
    assert clip_for_log("a\nb\r\x00c") == "a\\nb\\r\\x00c"


@pytest.mark.gen_test
async def test_repeated_huge_parameter_name(
    http_client: Any, base_url: str, gateway_logs: pytest.LogCaptureFixture
) -> None:
    name = "n" * HUGE
    body = f"{name}=1&{name}=2&grant_type=client_credentials"

    response = await post_form(http_client, base_url + "/o/token/", body)

    assert_oauth_error(response, 400, "invalid_request")
    assert_lines_bounded(gateway_logs)
    assert "n" * (MAX_LOG_VALUE_LENGTH + 1) not in gateway_logs.text


@pytest.mark.gen_test
async def test_repeated_parameter_line_break_escaped(
    http_client: Any, base_url: str, gateway_logs: pytest.LogCaptureFixture
) -> None:
    body = "x%0Aforged=1&x%0Aforged=2&grant_type=client_credentials"

    response = await post_form(http_client, base_url + "/o/token/", body)

    assert_oauth_error(response, 400, "invalid_request")
    assert "x\\nforged" in gateway_logs.text
    assert all("\n" not in record.getMessage() for record in gateway_logs.records)


@pytest.mark.gen_test
async def test_huge_client_id_at_token_endpoint(
    http_client: Any, base_url: str, gateway_logs: pytest.LogCaptureFixture
) -> None:
    form = {"grant_type": "password", "client_id": "c" * HUGE}

    response = await post_form(http_client, base_url + "/o/token/", form)

    assert_oauth_error(response, 400, "unsupported_grant_type")
    assert_lines_bounded(gateway_logs)


@pytest.mark.gen_test
async def test_huge_client_id_at_revocation(
    http_client: Any, base_url: str, gateway_logs: pytest.LogCaptureFixture
) -> None:
    form = {"token": "t", "client_id": "c" * HUGE}

    response = await post_form(http_client, base_url + "/o/revoke/", form)

    assert_oauth_error(response, 400, "invalid_client")
    assert_lines_bounded(gateway_logs)


@pytest.mark.gen_test
async def test_huge_scope_at_token_endpoint(
    http_client: Any,
    base_url: str,
    cc_client: Any,
    gateway_logs: pytest.LogCaptureFixture,
) -> None:
    client, secret = cc_client
    scope = " ".join(f"integration:name{number}" for number in range(200))
    form = {"grant_type": "client_credentials", "scope": scope}

    response = await post_form(
        http_client,
        base_url + "/o/token/",
        form,
        basic_header(client.client_id, secret),
    )

    assert_oauth_error(response, 400, "invalid_scope")
    assert_lines_bounded(gateway_logs)


@pytest.mark.gen_test
async def test_long_path_in_access_log(
    http_client: Any, base_url: str, gateway_logs: pytest.LogCaptureFixture
) -> None:
    path = "/" + "p" * 60_000

    response = await fetch(http_client, base_url + path)

    assert_error(response, 404, "not_found")
    access = [
        record
        for record in gateway_logs.records
        if record.name == "integration_gateway.access"
    ]
    assert len(access) == 1
    assert_lines_bounded(gateway_logs)
