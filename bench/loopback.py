"""HTTP requests from the harness to the servers under test, on loopback only.

Every URL must point at 127.0.0.1, and the requests ignore the ``http_proxy`` family of
environment variables, so no request of the harness leaves the machine.
"""

import socket
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass

LOOPBACK_HOST = "127.0.0.1"

# An opener without ProxyHandler settings from the environment: a proxy set for the
# shell would otherwise receive the requests meant for the local servers.
_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))


@dataclass(frozen=True)
class Response:
    """Status code and body of one HTTP response."""

    status: int
    body: bytes


def pick_free_port() -> int:
    """Return a TCP port on loopback that was free when this function ran.

    Another process can take the port before the server binds it, in which case the
    server fails to start and the harness reports that.
    """
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((LOOPBACK_HOST, 0))
        port: int = probe.getsockname()[1]
        return port


def send_request(
    url: str,
    method: str = "GET",
    headers: dict[str, str] | None = None,
    body: bytes | None = None,
    timeout_seconds: float = 30.0,
) -> Response:
    """Send one request to a loopback URL and return the response, whatever its status.

    Raises ValueError when the URL does not point at 127.0.0.1, and OSError when the
    connection fails or times out.
    """
    parsed = urllib.parse.urlsplit(url)
    if parsed.scheme != "http" or parsed.hostname != LOOPBACK_HOST:
        raise ValueError(
            f"invalid URL {url!r}: the harness sends requests only to "
            f"http://{LOOPBACK_HOST}"
        )

    request = urllib.request.Request(url, data=body, method=method)
    for name, value in (headers or {}).items():
        request.add_header(name, value)
    try:
        # The scheme and host were checked above, so the URL cannot name a local file.
        with _OPENER.open(request, timeout=timeout_seconds) as reply:
            return Response(reply.status, reply.read())
    except urllib.error.HTTPError as error:
        return Response(error.code, error.read())


def wait_until_ready(
    url: str, is_running: Callable[[], bool], timeout_seconds: float
) -> None:
    """Poll ``url`` until it returns 200.

    Raises RuntimeError when the server process exits first or when the timeout
    expires.
    """
    deadline = time.monotonic() + timeout_seconds
    last_problem = "no response yet"
    while time.monotonic() < deadline:
        if not is_running():
            raise RuntimeError(f"server exited before {url} returned 200")
        try:
            response = send_request(url, timeout_seconds=2.0)
        except OSError as error:
            last_problem = str(error)
        else:
            if response.status == 200:
                return
            last_problem = f"status {response.status}"
        time.sleep(0.1)
    raise RuntimeError(
        f"{url} did not return 200 within {timeout_seconds:.0f} s ({last_problem})"
    )
