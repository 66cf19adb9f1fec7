"""A real ``server.py`` process on a free loopback port, for end-to-end tests."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import requests

import models

ROOT = Path(__file__).resolve().parent.parent
SERVER = ROOT / "server.py"
# ``server.py`` arguments that register a client-credentials application
# acting as the service account ``partner-sa``.
CREATE_CC_APP = (
    "create-app",
    "--grant-type",
    "client-credentials",
    "--user",
    "partner-sa",
)


#: The server's default ``change_poll_seconds``.
CHANGE_POLL_SECONDS = 1.0


def wait_past_change_poll() -> None:
    """Wait until the server's next request reads the change counter.

    The server reads it on the first request at least ``change_poll_seconds``
    after the last read, so a change made on the command line before this wait
    is seen by the next request.
    """
    time.sleep(CHANGE_POLL_SECONDS + 0.1)


@contextmanager
def open_database(url: str) -> Iterator[None]:
    """Open the server's database in this process while the block runs."""
    database = models.open_database(url)
    try:
        yield
    finally:
        database.close()


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class GatewayProcess:
    """Runs the gateway's CLI and server against one database."""

    def __init__(
        self, workdir: Path, database_url: str, env: dict[str, str] | None = None
    ) -> None:
        self.workdir = workdir
        self.port = free_port()
        self.base_url = f"http://127.0.0.1:{self.port}"
        self.env = {
            key: value
            for key, value in os.environ.items()
            if not key.startswith("GATEWAY_")
        }
        self.env.update(
            {
                "GATEWAY_DATABASE_URL": database_url,
                "GATEWAY_BCRYPT_ROUNDS": "4",
                "GATEWAY_PORT": str(self.port),
                "GATEWAY_HOST": "127.0.0.1",
                "PYTHONUNBUFFERED": "1",
            }
        )
        self.env.update(env or {})
        self.process: subprocess.Popen[bytes] | None = None
        self.log_path = workdir / f"server-{self.port}.log"

    def run_cli(
        self, *args: str, stdin: str | None = None, env: dict[str, str] | None = None
    ) -> subprocess.CompletedProcess[str]:
        """Run a server.py command with ``env`` added; return how it ended."""
        return subprocess.run(
            [sys.executable, str(SERVER), *args],
            input=stdin,
            capture_output=True,
            text=True,
            env={**self.env, **(env or {})},
            cwd=self.workdir,
            timeout=60,
            check=False,
        )

    def cli(self, *args: str, stdin: str | None = None) -> str:
        """Run a server.py command; return its standard output, fail on error."""
        result = self.run_cli(*args, stdin=stdin)
        if result.returncode != 0:
            raise AssertionError(
                f"server.py {' '.join(args)} exited {result.returncode}:"
                f" {result.stderr.strip()}"
            )
        return result.stdout

    def cli_json(self, *args: str, stdin: str | None = None) -> Any:
        return json.loads(self.cli(*args, "--json", stdin=stdin))

    def start(self) -> str:
        """Start ``server.py serve`` and wait until /healthz answers 200."""
        log_file = open(self.log_path, "wb")
        self.process = subprocess.Popen(
            [sys.executable, str(SERVER), "serve"],
            stdout=log_file,
            stderr=subprocess.STDOUT,
            env=self.env,
            cwd=self.workdir,
            start_new_session=True,
        )
        self._log_file = log_file
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise AssertionError(f"server exited early:\n{self.log()}")
            try:
                if requests.get(self.base_url + "/healthz", timeout=1).ok:
                    return self.base_url
            except requests.RequestException:
                # Not listening yet, or too slow to answer on a loaded machine.
                pass
            time.sleep(0.1)
        raise AssertionError(f"server did not answer within 30 s:\n{self.log()}")

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def stop(self) -> None:
        if self.process is None:
            return
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(timeout=10)
        self._log_file.close()
        self.process = None
