"""Prepare the gateway for the benchmark through its command-line interface.

The setup creates a service account with a random password, grants it the ``echo``
integration and registers a client-credentials application for it, all in the SQLite
database that the benchmarked server then opens.
"""

import base64
import json
import os
import secrets
import sys
import urllib.parse
from dataclasses import dataclass
from pathlib import Path

from bench.loopback import send_request
from bench.processes import ChildProcesses

SERVICE_ACCOUNT = "bench-sa"
INTEGRATION = "echo"
APPLICATION_NAME = "bench"

# A CLI command hashes at most one secret with bcrypt, so it finishes in seconds, and
# one that runs this long is treated as stuck.
CLI_TIMEOUT_SECONDS = 120.0


class GatewaySetupError(RuntimeError):
    """A gateway CLI command or the first token request failed."""


@dataclass(frozen=True)
class GatewayCredentials:
    """Service account and application created for the benchmark."""

    username: str
    password: str
    client_id: str
    client_secret: str

    @property
    def secrets(self) -> tuple[str, ...]:
        """Values that must never appear in the harness output."""
        return (self.password, self.client_secret)


def gateway_environment(database_path: Path) -> dict[str, str]:
    """Return the environment for the gateway CLI and server on ``database_path``.

    GATEWAY_BCRYPT_ROUNDS is removed so that the gateway uses its default bcrypt
    cost of 12.
    """
    environment = dict(os.environ)
    environment["GATEWAY_DATABASE_URL"] = f"sqlite:///{database_path}"
    environment.pop("GATEWAY_BCRYPT_ROUNDS", None)
    return environment


def set_up_gateway(
    children: ChildProcesses, repo_root: Path, environment: dict[str, str]
) -> GatewayCredentials:
    """Create the service account, its grant and its application with the CLI."""
    password = secrets.token_urlsafe(24)
    _run_cli(
        children,
        repo_root,
        environment,
        ["create-user", SERVICE_ACCOUNT, "--service-account", "--password-stdin"],
        input_text=password + "\n",
        hidden=(password,),
    )
    _run_cli(children, repo_root, environment, ["grant", SERVICE_ACCOUNT, INTEGRATION])
    application_json = _run_cli(
        children,
        repo_root,
        environment,
        [
            "create-app",
            "--name",
            APPLICATION_NAME,
            "--grant-type",
            "client-credentials",
            "--user",
            SERVICE_ACCOUNT,
            "--json",
        ],
    )
    client_id, client_secret = parse_application_json(application_json)
    return GatewayCredentials(SERVICE_ACCOUNT, password, client_id, client_secret)


def _run_cli(
    children: ChildProcesses,
    repo_root: Path,
    environment: dict[str, str],
    command: list[str],
    input_text: str | None = None,
    hidden: tuple[str, ...] = (),
) -> str:
    """Run ``server.py COMMAND`` and return its stdout.

    Raises GatewaySetupError when the command exits with a non-zero code.
    """
    result = children.run(
        [sys.executable, "server.py", *command],
        env=environment,
        cwd=repo_root,
        input_text=input_text,
        timeout_seconds=CLI_TIMEOUT_SECONDS,
    )
    if result.returncode != 0:
        # stdout is left out because create-app prints the client secret there.
        stderr_tail = redact(result.stderr.strip()[-2000:], hidden)
        raise GatewaySetupError(
            f"`server.py {' '.join(command)}` exited with code {result.returncode}:\n"
            f"{stderr_tail}"
        )
    return result.stdout


def parse_application_json(output: str) -> tuple[str, str]:
    """Return client_id and client_secret from the output of ``create-app --json``.

    The JSON object may be the whole output or its last line that starts with ``{``.
    The error message never quotes the output, because it contains the secret.
    """
    candidates = [output] + [
        line for line in reversed(output.splitlines()) if line.startswith("{")
    ]
    for candidate in candidates:
        try:
            document = json.loads(candidate)
        except json.JSONDecodeError:
            continue
        if not isinstance(document, dict):
            continue
        client_id = document.get("client_id")
        client_secret = document.get("client_secret")
        if isinstance(client_id, str) and isinstance(client_secret, str):
            return client_id, client_secret
    raise GatewaySetupError(
        "`server.py create-app --json` printed no JSON object with string fields "
        "client_id and client_secret"
    )


def basic_authorization(username: str, password: str) -> str:
    """Return an ``Authorization`` header value for HTTP Basic authentication."""
    token = base64.b64encode(f"{username}:{password}".encode()).decode("ascii")
    return f"Basic {token}"


def client_basic_authorization(client_id: str, client_secret: str) -> str:
    """Return the Basic ``Authorization`` value that authenticates an OAuth client.

    RFC 6749 §2.3.1 form-encodes the client id and secret before the Basic encoding.
    """
    return basic_authorization(
        urllib.parse.quote_plus(client_id), urllib.parse.quote_plus(client_secret)
    )


def fetch_access_token(token_url: str, credentials: GatewayCredentials) -> str:
    """Request a client-credentials access token and return it."""
    response = send_request(
        token_url,
        "POST",
        headers={
            "Authorization": client_basic_authorization(
                credentials.client_id, credentials.client_secret
            ),
            "Content-Type": "application/x-www-form-urlencoded",
        },
        body=b"grant_type=client_credentials",
    )
    body_text = response.body.decode("utf-8", "replace")
    if response.status != 200:
        raise GatewaySetupError(
            f"POST {token_url} returned status {response.status}: "
            f"{redact(body_text[:500], credentials.secrets)}"
        )
    try:
        access_token = json.loads(body_text)["access_token"]
    except (json.JSONDecodeError, KeyError, TypeError) as error:
        raise GatewaySetupError(
            f"POST {token_url} returned 200 without a JSON field access_token"
        ) from error
    if not isinstance(access_token, str):
        raise GatewaySetupError(f"POST {token_url} returned a non-string access_token")
    return access_token


def redact(text: str, hidden: tuple[str, ...]) -> str:
    """Replace every occurrence of each value in ``hidden`` with ``***``."""
    for value in hidden:
        if value:
            text = text.replace(value, "***")
    return text
