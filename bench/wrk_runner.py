"""Run wrk against a loopback URL and parse its report.

Request method, body and headers go into a Lua script that wrk loads with
``--script``. The parser reads the text report of wrk 4.1 with ``--latency``:
``Requests/sec``, the 50% and 99% lines of the latency distribution, ``Socket
errors`` and ``Non-2xx or 3xx responses``. wrk counts a response with a status of 400
or more under that last line and omits the line when the count is zero.
"""

import os
import re
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

from bench.processes import ChildProcesses

# Response statuses are counted only where ``count_statuses`` is set, because a Lua
# response() callback adds header and body parsing and a Lua call to every response
# in wrk. done() prints the counts as "status CODE: COUNT", one line per status and
# wrk thread.
_STATUS_COUNT_SCRIPT = """
local threads = {}

function setup(thread)
  table.insert(threads, thread)
end

function init(args)
  status_counts = {}
end

function response(status, headers, body)
  status_counts[status] = (status_counts[status] or 0) + 1
end

function done(summary, latency, requests)
  for _, thread in ipairs(threads) do
    for status, count in pairs(thread:get("status_counts")) do
      io.write(string.format("status %d: %d\\n", status, count))
    end
  end
end
"""

_TIME_UNIT_MS = {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60_000.0, "h": 3_600_000.0}
_PERCENTILE_LINE = re.compile(r"^\s*(50|99)%\s+([\d.]+)(us|ms|s|m|h)\s*$", re.M)
_REQUESTS_LINE = re.compile(r"^\s*(\d+) requests in ([\d.]+)(us|ms|s|m|h),", re.M)
_RATE_LINE = re.compile(r"^Requests/sec:\s+([\d.]+)", re.M)
_SOCKET_ERRORS_LINE = re.compile(
    r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)"
)
_NON_2XX_LINE = re.compile(r"Non-2xx or 3xx responses: (\d+)")
_STATUS_COUNT_LINE = re.compile(r"^status (\d+): (\d+)$", re.M)


class WrkError(RuntimeError):
    """wrk failed to run or printed a report that the parser cannot read."""


@dataclass(frozen=True)
class WrkRequest:
    """HTTP request that every wrk connection sends in a loop."""

    url: str
    method: str = "GET"
    headers: dict[str, str] = field(default_factory=dict)
    body: str | None = None


@dataclass(frozen=True)
class WrkSettings:
    """Load settings of one wrk run.

    wrk counts a reply slower than ``timeout_seconds`` as a timeout and leaves it out
    of the latency percentiles.
    """

    duration_seconds: int
    connections: int
    threads: int = 1
    timeout_seconds: int = 10
    count_statuses: bool = False


@dataclass(frozen=True)
class WrkResult:
    """Numbers parsed from one wrk report."""

    requests: int
    requests_per_second: float
    p50_ms: float
    p99_ms: float
    error_responses: int
    connect_errors: int
    read_errors: int
    write_errors: int
    timeouts: int
    status_counts: dict[int, int]

    @property
    def socket_errors(self) -> int:
        """Sum of connect, read and write errors and timeouts."""
        return (
            self.connect_errors + self.read_errors + self.write_errors + self.timeouts
        )


def lua_string_literal(text: str) -> str:
    """Quote ``text`` as a Lua string literal.

    Quotes, backslashes and bytes outside printable ASCII become escape sequences.
    """
    pieces = []
    for byte in text.encode("utf-8"):
        character = chr(byte)
        if character in ('"', "\\"):
            pieces.append("\\" + character)
        elif 32 <= byte < 127:
            pieces.append(character)
        else:
            pieces.append(f"\\{byte:03d}")
    return '"' + "".join(pieces) + '"'


def write_script(path: Path, request: WrkRequest, count_statuses: bool) -> None:
    """Write the Lua script that sets the method, body and headers of ``request``.

    The file is created with mode 0600 because its headers can carry a credential.
    """
    lines = [f"wrk.method = {lua_string_literal(request.method)}"]
    if request.body is not None:
        lines.append(f"wrk.body = {lua_string_literal(request.body)}")
    for name, value in request.headers.items():
        lines.append(
            f"wrk.headers[{lua_string_literal(name)}] = {lua_string_literal(value)}"
        )
    script = "\n".join(lines) + "\n"
    if count_statuses:
        script += _STATUS_COUNT_SCRIPT

    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w") as script_file:
        script_file.write(script)


def start_wrk(
    children: ChildProcesses,
    request: WrkRequest,
    settings: WrkSettings,
    script_path: Path,
) -> subprocess.Popen[str]:
    """Start wrk in the background and return the process; see ``finish_wrk``."""
    write_script(script_path, request, settings.count_statuses)
    args = [
        "wrk",
        "--threads",
        str(settings.threads),
        "--connections",
        str(settings.connections),
        "--duration",
        f"{settings.duration_seconds}s",
        "--timeout",
        f"{settings.timeout_seconds}s",
        "--latency",
        "--script",
        str(script_path),
        request.url,
    ]
    return children.start(args)


def finish_wrk(
    children: ChildProcesses, process: subprocess.Popen[str], settings: WrkSettings
) -> WrkResult:
    """Wait for a wrk process from ``start_wrk`` and parse its report.

    Raises WrkError when wrk exits with an error, runs far past its duration or prints
    a report without a request rate.
    """
    # wrk stops at the end of its duration without waiting for open replies, so the
    # margin only covers its start and the report.
    deadline_seconds = settings.duration_seconds + 30
    try:
        output, _ = process.communicate(timeout=deadline_seconds)
    except subprocess.TimeoutExpired as error:
        children.stop(process)
        raise WrkError(f"wrk did not finish within {deadline_seconds} s") from error
    children.stop(process)

    if process.returncode != 0:
        raise WrkError(f"wrk exited with code {process.returncode}: {output.strip()}")
    return parse_report(output)


def run_wrk(
    children: ChildProcesses,
    request: WrkRequest,
    settings: WrkSettings,
    script_path: Path,
) -> WrkResult:
    """Run wrk in the foreground and return the parsed report."""
    process = start_wrk(children, request, settings, script_path)
    return finish_wrk(children, process, settings)


def parse_report(output: str) -> WrkResult:
    """Parse the text report that wrk prints with ``--latency``.

    Raises WrkError when the request rate or a percentile is missing.
    """
    rate = _RATE_LINE.search(output)
    requests = _REQUESTS_LINE.search(output)
    percentiles = {
        match.group(1): float(match.group(2)) * _TIME_UNIT_MS[match.group(3)]
        for match in _PERCENTILE_LINE.finditer(output)
    }
    if rate is None or requests is None or set(percentiles) != {"50", "99"}:
        raise WrkError(f"cannot parse the wrk report:\n{output.strip()}")

    socket_errors = _SOCKET_ERRORS_LINE.search(output)
    connect, read, write, timeouts = (
        (int(value) for value in socket_errors.groups()) if socket_errors else (0,) * 4
    )
    non_2xx = _NON_2XX_LINE.search(output)

    status_counts: dict[int, int] = {}
    for match in _STATUS_COUNT_LINE.finditer(output):
        status = int(match.group(1))
        status_counts[status] = status_counts.get(status, 0) + int(match.group(2))

    return WrkResult(
        requests=int(requests.group(1)),
        requests_per_second=float(rate.group(1)),
        p50_ms=percentiles["50"],
        p99_ms=percentiles["99"],
        error_responses=int(non_2xx.group(1)) if non_2xx else 0,
        connect_errors=connect,
        read_errors=read,
        write_errors=write,
        timeouts=timeouts,
        status_counts=status_counts,
    )
