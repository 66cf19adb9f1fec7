"""Bodies over ``max_body_bytes``: 413 Content Too Large from a real ``server.py``.

One server per backend runs with ``max_body_bytes`` at its minimum, 1024, for
the whole module. Raw sockets show what the server writes and when it closes
the connection, and each test then reads the server log.
"""

from __future__ import annotations

import http.client
import json
import socket
import time
import urllib.parse
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import requests

from handlers.body_limit import CLOSE_DELAY_SECONDS, content_length_exceeds
from tests.conftest import (
    BACKENDS,
    POSTGRES_URL,
    basic_header,
    create_postgres_database,
    drop_postgres_database,
)
from tests.e2e import CREATE_CC_APP, GatewayProcess

LIMIT = 1024
DESCRIPTION = f"The request body exceeds the maximum size of {LIMIT} bytes."
SECURITY_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
}
JSON_TYPE = "application/json; charset=UTF-8"
CHUNKED_END_MESSAGE = "chunked body over max_body_bytes, 413 sent"


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("1024", False),
        ("1025", True),
        ("0000001025", True),
        ("00000000000000000000000001024", False),
        ("1025, 1025", True),
        ("1025,1025", True),
        ("1025, 1026", False),
        ("9" * 5000, True),
        ("+1025", False),
        ("-1", False),
        ("1_025", False),
        ("1025 ", False),
        ("\u00b2\u00b2\u00b2\u00b2\u00b2", False),
        ("", False),
    ],
)
def test_content_length_exceeds(value: str, expected: bool) -> None:
    assert content_length_exceeds(value, LIMIT) is expected


@dataclass
class LimitedServer:
    """A running gateway with ``max_body_bytes = LIMIT`` and a partner's credentials."""

    process: GatewayProcess
    base_url: str
    password: str
    client_id: str
    client_secret: str

    @property
    def echo_url(self) -> str:
        return self.base_url + "/integrations/execute/echo"

    @property
    def address(self) -> tuple[str, int]:
        parsed = urllib.parse.urlsplit(self.base_url)
        assert parsed.hostname is not None and parsed.port is not None
        return parsed.hostname, parsed.port

    def log(self) -> str:
        return self.process.log()

    def wait_for_log(self, text: str, timeout: float = 10) -> str:
        """Return the server log once it contains ``text``."""
        deadline = time.monotonic() + timeout
        while True:
            log = self.log()
            if text in log or time.monotonic() > deadline:
                return log
            time.sleep(0.05)


@pytest.fixture(scope="module", params=BACKENDS)
def server(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[LimitedServer]:
    """One server per backend for the module, with a service account and client."""
    workdir: Path = tmp_path_factory.mktemp("body-limit")
    if request.param == "sqlite":
        database_url = f"sqlite:///{workdir}/server.db"
    elif POSTGRES_URL:
        database_url = create_postgres_database(POSTGRES_URL)
    else:
        pytest.skip("GATEWAY_TEST_DATABASE_URL is not set")
    process = GatewayProcess(
        workdir, database_url, env={"GATEWAY_MAX_BODY_BYTES": str(LIMIT)}
    )
    try:
        account = process.cli_json("create-user", "partner-sa", "--service-account")
        process.cli("grant", "partner-sa", "echo")
        client = process.cli_json(*CREATE_CC_APP, "--name", "ERP connector")
        base_url = process.start()
        yield LimitedServer(
            process=process,
            base_url=base_url,
            password=account["password"],
            client_id=client["client_id"],
            client_secret=client["client_secret"],
        )
    finally:
        process.stop()
        if request.param == "postgresql":
            drop_postgres_database(database_url)


def marker() -> str:
    """Return text that a test puts in a body and then looks for in the log."""
    return "body-marker-" + uuid.uuid4().hex


def json_of_size(size: int, text: str) -> bytes:
    """Return a JSON object of exactly ``size`` bytes that contains ``text``."""
    body = json.dumps({"note": text, "pad": ""}).encode()
    padded = json.dumps({"note": text, "pad": "a" * (size - len(body))}).encode()
    assert len(padded) == size
    return padded


def assert_json_413(response: requests.Response) -> None:
    assert response.status_code == 413, response.text
    assert response.reason == "Content Too Large"
    assert response.headers["Content-Type"] == JSON_TYPE
    assert response.headers["Connection"] == "close"
    assert response.headers["Cache-Control"] == "no-store"
    assert "Content-Security-Policy" not in response.headers
    for name, value in SECURITY_HEADERS.items():
        assert response.headers[name] == value
    assert response.json() == {
        "error": "content_too_large",
        "error_description": DESCRIPTION,
        "request_id": response.headers["X-Request-Id"],
    }


def assert_logged_413(server: LimitedServer, path: str, request_id: str) -> str:
    """Assert the access-log line of a 413 and return the log."""
    access_line = f"WARNING integration_gateway.access: 413 POST {path} (127.0.0.1) "
    log = server.wait_for_log(f"request_id={request_id}\n")
    lines = [line for line in log.splitlines() if f"request_id={request_id}" in line]
    assert any(access_line in line for line in lines), lines
    assert "Traceback" not in log
    assert "Uncaught exception" not in log
    # Tornado logs the bodies it rejects as malformed. The only such line
    # expected comes from test_chunked_body_in_one_packet.
    malformed = [line for line in log.splitlines() if "Malformed HTTP" in line]
    for line in malformed:
        assert line.endswith(CHUNKED_END_MESSAGE), line
    return log


def assert_still_serving(server: LimitedServer) -> None:
    response = requests.post(
        server.echo_url,
        auth=("partner-sa", server.password),
        json={"after": "rejection"},
        timeout=10,
    )
    assert response.status_code == 200, response.text
    assert response.json()["payload"] == {"after": "rejection"}


def exchange(server: LimitedServer, data: bytes) -> bytes:
    """Send ``data`` on a new connection; return all bytes up to the server's FIN."""
    received = b""
    with socket.create_connection(server.address, timeout=10) as sock:
        sock.sendall(data)
        while True:
            piece = sock.recv(65536)
            if not piece:
                return received
            received += piece


def split_response(data: bytes) -> tuple[str, dict[str, str], bytes, bytes]:
    """Split one response off ``data``: status line, headers, body, the rest."""
    head, _, rest = data.partition(b"\r\n\r\n")
    status, *header_lines = head.decode("latin-1").split("\r\n")
    headers = dict(line.split(": ", 1) for line in header_lines)
    length = int(headers["Content-Length"])
    return status, headers, rest[:length], rest[length:]


def request_head(path: str, *headers: str) -> bytes:
    lines = [f"POST {path} HTTP/1.1", "Host: 127.0.0.1", *headers, "", ""]
    return "\r\n".join(lines).encode()


@pytest.mark.e2e
def test_partner_api_oversized(server: LimitedServer) -> None:
    text = marker()

    response = requests.post(
        server.echo_url,
        auth=("partner-sa", server.password),
        headers={"Content-Type": "application/json"},
        data=json_of_size(2 * 1024 * 1024, text),
        timeout=10,
    )

    assert_json_413(response)
    request_id = response.headers["X-Request-Id"]
    log = assert_logged_413(server, "/integrations/execute/echo", request_id)
    assert (
        "POST /integrations/execute/echo answered 413: declared Content-Length"
        f" 2097152 exceeds max_body_bytes {LIMIT} request_id={request_id}"
    ) in log
    assert text not in log
    assert server.password not in log
    assert_still_serving(server)


@pytest.mark.e2e
def test_token_endpoint_oversized(server: LimitedServer) -> None:
    text = marker()

    response = requests.post(
        server.base_url + "/o/token/",
        auth=(server.client_id, server.client_secret),
        data={"grant_type": "client_credentials", "note": text * 40},
        timeout=10,
    )

    assert_json_413(response)
    log = assert_logged_413(server, "/o/token/", response.headers["X-Request-Id"])
    assert text not in log
    assert server.client_secret not in log
    assert_still_serving(server)


@pytest.mark.e2e
def test_login_form_oversized(server: LimitedServer) -> None:
    text = marker()

    response = requests.post(
        server.base_url + "/login",
        headers={"Accept": "text/html,application/xhtml+xml"},
        data={"username": "partner-sa", "password": server.password, "note": text * 40},
        allow_redirects=False,
        timeout=10,
    )

    assert response.status_code == 413
    assert response.reason == "Content Too Large"
    assert response.headers["Content-Type"] == "text/html; charset=UTF-8"
    assert response.headers["Connection"] == "close"
    assert response.headers["Cache-Control"] == "no-store"
    assert "default-src 'none'" in response.headers["Content-Security-Policy"]
    for name, value in SECURITY_HEADERS.items():
        assert response.headers[name] == value
    assert "Set-Cookie" not in response.headers
    request_id = response.headers["X-Request-Id"]
    assert "<h1>413 Content too large</h1>" in response.text
    assert DESCRIPTION in response.text
    assert request_id in response.text
    log = assert_logged_413(server, "/login", request_id)
    assert text not in log
    assert server.password not in log
    assert_still_serving(server)


@pytest.mark.e2e
@pytest.mark.parametrize("transfer", ["content-length", "chunked"])
def test_limit_and_one_byte_over(server: LimitedServer, transfer: str) -> None:
    text = marker()

    def send(body: bytes) -> requests.Response:
        # A generator makes requests send the body chunked.
        data: Any = iter([body[:500], body[500:]]) if transfer == "chunked" else body
        return requests.post(
            server.echo_url,
            auth=("partner-sa", server.password),
            headers={"Content-Type": "application/json"},
            data=data,
            timeout=10,
        )

    at_limit = send(json_of_size(LIMIT, text))
    over_limit = send(json_of_size(LIMIT + 1, text))

    assert at_limit.status_code == 200, at_limit.text
    assert at_limit.json()["payload"]["note"] == text
    assert_json_413(over_limit)
    request_id = over_limit.headers["X-Request-Id"]
    log = assert_logged_413(server, "/integrations/execute/echo", request_id)
    detail = (
        f"chunked body exceeds max_body_bytes {LIMIT}"
        if transfer == "chunked"
        else f"declared Content-Length {LIMIT + 1} exceeds max_body_bytes {LIMIT}"
    )
    assert f"answered 413: {detail} request_id={request_id}" in log
    assert text not in log
    assert_still_serving(server)


@pytest.mark.e2e
def test_chunked_stream_oversized(server: LimitedServer) -> None:
    text = marker().encode()
    pieces = iter([text] + [b"x" * 16384] * 64)

    response = requests.post(
        server.echo_url,
        auth=("partner-sa", server.password),
        headers={"Content-Type": "application/json"},
        data=pieces,
        timeout=10,
    )

    assert_json_413(response)
    log = assert_logged_413(
        server, "/integrations/execute/echo", response.headers["X-Request-Id"]
    )
    assert text.decode() not in log
    assert_still_serving(server)


@pytest.mark.e2e
def test_declared_length_rejected_before_body(server: LimitedServer) -> None:
    # Only the head is sent, with a pipelined request behind it: the 413 comes
    # without waiting for the body, and the second request is not served.
    pipelined = b"GET /pipelined-after-413 HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"
    head = request_head(
        "/integrations/execute/echo",
        "Content-Type: application/json",
        "Content-Length: 10000000",
        "Expect: 100-continue",
    )

    data = exchange(server, head + pipelined)

    status, headers, body, rest = split_response(data)
    assert status == "HTTP/1.1 413 Content Too Large"
    assert headers["Connection"] == "close"
    assert headers["Content-Type"] == JSON_TYPE
    assert json.loads(body)["error"] == "content_too_large"
    assert rest == b""
    assert_logged_413(server, "/integrations/execute/echo", headers["X-Request-Id"])
    time.sleep(CLOSE_DELAY_SECONDS + 0.3)
    assert_still_serving(server)
    assert "/pipelined-after-413" not in server.log()


@pytest.mark.e2e
def test_fin_before_close(server: LimitedServer) -> None:
    # The server reads the head with at most 16 KiB of body, and the rest stays
    # unread in its kernel. On Linux, closing a socket with unread data sends a
    # reset in place of FIN, so a clean end of file shows that the server shut
    # down writing first and closed the socket later.
    head = request_head(
        "/integrations/execute/echo",
        "Content-Type: application/json",
        "Content-Length: 65536",
    )

    data = exchange(server, head + b"x" * 32768)

    status, headers, _, rest = split_response(data)
    assert status == "HTTP/1.1 413 Content Too Large"
    assert rest == b""
    assert_logged_413(server, "/integrations/execute/echo", headers["X-Request-Id"])


@pytest.mark.e2e
def test_chunked_body_in_one_packet(server: LimitedServer) -> None:
    # The whole body and a pipelined request reach the server's read buffer
    # together, so Tornado reaches the body's end after the 413.
    text = marker()
    chunk = json_of_size(LIMIT + 100, text)
    head = request_head(
        "/integrations/execute/echo",
        "Content-Type: application/json",
        "Transfer-Encoding: chunked",
    )
    body = b"%x\r\n%s\r\n0\r\n\r\n" % (len(chunk), chunk)
    pipelined = b"GET /pipelined-after-chunked HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"

    data = exchange(server, head + body + pipelined)

    status, headers, response_body, rest = split_response(data)
    assert status == "HTTP/1.1 413 Content Too Large"
    assert headers["Connection"] == "close"
    assert json.loads(response_body)["error_description"] == DESCRIPTION
    assert rest == b""
    assert_logged_413(server, "/integrations/execute/echo", headers["X-Request-Id"])
    log = server.wait_for_log(CHUNKED_END_MESSAGE)
    assert f"Malformed HTTP message from 127.0.0.1: {CHUNKED_END_MESSAGE}" in log
    assert "/pipelined-after-chunked" not in log
    assert text not in log
    assert "Traceback" not in log
    assert_still_serving(server)


@pytest.mark.e2e
def test_within_limit_keeps_connection(server: LimitedServer) -> None:
    host, port = server.address
    connection = http.client.HTTPConnection(host, port, timeout=10)
    headers = {
        "Authorization": basic_header("partner-sa", server.password),
        "Content-Type": "application/json",
    }
    statuses = []
    try:
        for number in (1, 2):
            connection.request(
                "POST", "/integrations/execute/echo", json.dumps({"n": number}), headers
            )
            response = connection.getresponse()
            statuses.append(response.status)
            assert response.getheader("Connection") is None
            assert json.loads(response.read())["payload"] == {"n": number}
    finally:
        connection.close()

    assert statuses == [200, 200]
