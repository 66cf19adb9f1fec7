"""Start the servers under test and run the benchmark scenarios one after another.

Every server listens on 127.0.0.1 on a port that was free at start, and wrk loads one
server at a time, except in the flood scenario, where two wrk processes run together.
Each throughput scenario runs in paired rounds: a bare handler run, then a scenario
run, so that a slower or faster machine affects both runs of a round alike.
"""

import json
import logging
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from bench import gateway_setup
from bench.loopback import LOOPBACK_HOST, pick_free_port, send_request, wait_until_ready
from bench.processes import ChildProcesses, peak_resident_kib
from bench.results import (
    MIN_INTEGRATION_RATIO,
    MIN_TOKEN_RATIO,
    PairedRound,
    PairedScenario,
    ScenarioResult,
    TargetCheck,
    check_healthz_latency,
    check_peak_memory,
    check_ratio,
)
from bench.wrk_runner import WrkRequest, WrkSettings, finish_wrk, run_wrk, start_wrk

logger = logging.getLogger("bench.harness")

ECHO_PATH = "/integrations/execute/echo"
TOKEN_PATH = "/o/token/"  # noqa: S105 - a URL path, not a credential
HEALTHZ_PATH = "/healthz"
BARE_NAME = "Bare Tornado handler, POST"
ECHO_BODY = json.dumps({"message": "benchmark"})

FLOOD_CONNECTIONS = 20
# The gateway responds 401 to a wrong password after a bcrypt check, 503 without a
# check when the address's share of pending bcrypt checks is full, and 429 once the
# address has used up its failed attempts (GATEWAY_LOGIN_THROTTLE_MAX_FAILURES).
FLOOD_EXPECTED_STATUSES = frozenset({401, 429, 503})
HEALTHZ_PROBE_CONNECTIONS = 1
# The flood starts this long before the /healthz probe so that all its connections
# are waiting on the gateway, and runs this long past the probe's end.
FLOOD_LEAD_SECONDS = 1
FLOOD_TAIL_SECONDS = 3
# Replies slower than this count as wrk timeouts. Every wrong password costs a bcrypt
# check at cost 12, so flood replies wait in the gateway's queue for seconds.
SCENARIO_TIMEOUT_SECONDS = 10
FLOOD_TIMEOUT_SECONDS = 30

BARE_SERVER_READY_SECONDS = 15.0
GATEWAY_READY_SECONDS = 30.0
LOG_TAIL_LINES = 40


class BenchmarkError(RuntimeError):
    """The benchmark could not run: a server failed, wrk failed or setup failed."""


@dataclass(frozen=True)
class BenchmarkSettings:
    """Durations, rounds and load that apply to every scenario."""

    duration_seconds: int
    warmup_seconds: int
    connections: int
    threads: int
    rounds: int


@dataclass(frozen=True)
class BenchmarkResults:
    """Everything that the report shows."""

    bare_runs: list[ScenarioResult]
    paired: list[PairedScenario]
    others: list[ScenarioResult]
    checks: list[TargetCheck]


@dataclass(frozen=True)
class PreparedScenario:
    """A scenario whose first request and warm-up are done, ready for measured runs."""

    name: str
    request: WrkRequest
    settings: WrkSettings
    first_status: int
    expected_statuses: frozenset[int] | None


class Benchmark:
    """Servers under test and the scenarios run against them."""

    def __init__(
        self,
        settings: BenchmarkSettings,
        children: ChildProcesses,
        repo_root: Path,
        work_dir: Path,
    ) -> None:
        self.settings = settings
        self.children = children
        self.repo_root = repo_root
        self.work_dir = work_dir
        self._script_count = 0

    def run(self) -> BenchmarkResults:
        """Start both servers, run every scenario and check the targets."""
        bare_url = self._start_bare_server()
        environment = gateway_setup.gateway_environment(self.work_dir / "bench.db")
        logger.info("setting up the gateway database with the gateway CLI")
        credentials = gateway_setup.set_up_gateway(
            self.children, self.repo_root, environment
        )
        gateway, gateway_url = self._start_gateway(environment, credentials.secrets)
        access_token = gateway_setup.fetch_access_token(
            gateway_url + TOKEN_PATH, credentials
        )

        bare = self.prepare(BARE_NAME, _echo_request(bare_url + "/", None))
        self._require_running(gateway, "gateway")
        bearer, basic, token = self._measure_throughput(
            bare, gateway_url, credentials, access_token
        )
        echo_url = gateway_url + ECHO_PATH
        wrong_password = gateway_setup.basic_authorization(
            credentials.username, "wrong-" + credentials.password
        )
        healthz, flood = self.measure_healthz_during_flood(
            gateway_url + HEALTHZ_PATH, _echo_request(echo_url, wrong_password)
        )

        self._require_running(gateway, "gateway")
        peak_resident_mib = peak_resident_kib(gateway.pid) / 1024
        checks = [
            check_ratio("Integration call, Bearer", bearer, MIN_INTEGRATION_RATIO),
            check_ratio("Integration call, Basic", basic, MIN_INTEGRATION_RATIO),
            check_ratio("Token issuance", token, MIN_TOKEN_RATIO),
            check_healthz_latency(healthz),
            check_peak_memory(peak_resident_mib),
        ]
        paired = [bearer, basic, token]
        bare_runs = [
            paired_round.bare for scenario in paired for paired_round in scenario.rounds
        ]
        return BenchmarkResults(bare_runs, paired, [healthz, flood], checks)

    def _measure_throughput(
        self,
        bare: PreparedScenario,
        gateway_url: str,
        credentials: gateway_setup.GatewayCredentials,
        access_token: str,
    ) -> tuple[PairedScenario, PairedScenario, PairedScenario]:
        """Measure the Bearer, Basic and token scenarios in paired rounds."""
        echo_url = gateway_url + ECHO_PATH
        bearer = self.measure_rounds(
            bare,
            "POST echo, Bearer token",
            _echo_request(echo_url, f"Bearer {access_token}"),
        )
        basic = self.measure_rounds(
            bare,
            "POST echo, Basic service account",
            _echo_request(
                echo_url,
                gateway_setup.basic_authorization(
                    credentials.username, credentials.password
                ),
            ),
        )
        token = self.measure_rounds(
            bare,
            "POST /o/token/, client credentials",
            _token_request(gateway_url + TOKEN_PATH, credentials),
        )
        return bearer, basic, token

    def prepare(
        self,
        name: str,
        request: WrkRequest,
        connections: int | None = None,
        expected_statuses: frozenset[int] | None = None,
    ) -> PreparedScenario:
        """Send one request and run the warm-up, both outside any measured run.

        The first request makes the server do its one-time work, such as verifying a
        Basic credential that it then caches.
        """
        connections = connections or self.settings.connections
        first_status = self._send_first_request(name, request)
        settings = WrkSettings(
            duration_seconds=self.settings.duration_seconds,
            connections=connections,
            threads=min(self.settings.threads, connections),
            timeout_seconds=SCENARIO_TIMEOUT_SECONDS,
            count_statuses=expected_statuses is not None,
        )
        if self.settings.warmup_seconds > 0:
            logger.info("%s: warm-up, %d s", name, self.settings.warmup_seconds)
            warmup = WrkSettings(
                duration_seconds=self.settings.warmup_seconds,
                connections=settings.connections,
                threads=settings.threads,
                timeout_seconds=settings.timeout_seconds,
            )
            run_wrk(self.children, request, warmup, self._next_script_path())
        return PreparedScenario(
            name, request, settings, first_status, expected_statuses
        )

    def measure_once(self, scenario: PreparedScenario, label: str) -> ScenarioResult:
        """Run wrk once for the measured duration of ``scenario`` and return the result.

        ``label`` names the run in the log.
        """
        settings = scenario.settings
        logger.info("%s: measuring, %d s", label, settings.duration_seconds)
        result = run_wrk(
            self.children, scenario.request, settings, self._next_script_path()
        )
        logger.info(
            "%s: %.0f requests/s, p50 %.2f ms, p99 %.2f ms",
            label,
            result.requests_per_second,
            result.p50_ms,
            result.p99_ms,
        )
        return ScenarioResult(
            scenario.name,
            settings.connections,
            result,
            scenario.first_status,
            scenario.expected_statuses,
        )

    def measure(
        self,
        name: str,
        request: WrkRequest,
        connections: int | None = None,
        expected_statuses: frozenset[int] | None = None,
    ) -> ScenarioResult:
        """Send one request, run a warm-up and then one measured wrk run."""
        prepared = self.prepare(name, request, connections, expected_statuses)
        return self.measure_once(prepared, name)

    def measure_rounds(
        self, bare: PreparedScenario, name: str, request: WrkRequest
    ) -> PairedScenario:
        """Prepare a scenario, then measure it in paired rounds against ``bare``.

        Each round runs the bare handler and then the scenario, back to back, so both
        runs of a round see about the same machine speed.
        """
        scenario = self.prepare(name, request)
        rounds = []
        for number in range(1, self.settings.rounds + 1):
            label = f"{name}, round {number} of {self.settings.rounds}"
            bare_result = self.measure_once(bare, f"{label}, bare handler")
            if bare_result.wrk.requests_per_second <= 0:
                raise BenchmarkError(
                    f"{label}: the bare handler completed no request, so the round "
                    "has no ratio"
                )
            paired_round = PairedRound(
                bare=bare_result, scenario=self.measure_once(scenario, label)
            )
            logger.info("%s: ratio to bare %.2f", label, paired_round.ratio)
            rounds.append(paired_round)
        return PairedScenario(tuple(rounds))

    def measure_healthz_during_flood(
        self, healthz_url: str, flood_request: WrkRequest
    ) -> tuple[ScenarioResult, ScenarioResult]:
        """Measure GET /healthz while other connections send wrong Basic passwords.

        Returns the /healthz scenario and the flood scenario.
        """
        flood_name = "Wrong Basic password flood (load for the row above)"
        first_status = self._send_first_request(flood_name, flood_request)
        flood_settings = WrkSettings(
            duration_seconds=FLOOD_LEAD_SECONDS
            + self.settings.warmup_seconds
            + self.settings.duration_seconds
            + FLOOD_TAIL_SECONDS,
            connections=FLOOD_CONNECTIONS,
            threads=1,
            timeout_seconds=FLOOD_TIMEOUT_SECONDS,
            count_statuses=True,
        )
        logger.info(
            "starting the wrong-password flood with %d connections", FLOOD_CONNECTIONS
        )
        flood_process = start_wrk(
            self.children, flood_request, flood_settings, self._next_script_path()
        )
        time.sleep(FLOOD_LEAD_SECONDS)
        self._require_running(flood_process, "wrk flood")

        healthz = self.measure(
            "GET /healthz during the flood",
            WrkRequest(healthz_url),
            connections=HEALTHZ_PROBE_CONNECTIONS,
        )
        flood_result = finish_wrk(self.children, flood_process, flood_settings)
        flood = ScenarioResult(
            flood_name,
            FLOOD_CONNECTIONS,
            flood_result,
            first_status,
            FLOOD_EXPECTED_STATUSES,
        )
        return healthz, flood

    def _send_first_request(self, name: str, request: WrkRequest) -> int:
        body = request.body.encode() if request.body is not None else None
        try:
            response = send_request(request.url, request.method, request.headers, body)
        except OSError as error:
            raise BenchmarkError(f"{name}: first request failed: {error}") from error
        logger.info("%s: first request returned %d", name, response.status)
        return response.status

    def _start_bare_server(self) -> str:
        port = pick_free_port()
        script = self.repo_root / "bench" / "bare_server.py"
        args = [
            sys.executable,
            str(script),
            "--host",
            LOOPBACK_HOST,
            "--port",
            str(port),
        ]
        url = f"http://{LOOPBACK_HOST}:{port}"
        self._start_server(
            "bare server", args, None, url + "/", BARE_SERVER_READY_SECONDS
        )
        return url

    def _start_gateway(
        self, environment: dict[str, str], hidden: tuple[str, ...]
    ) -> tuple[subprocess.Popen[str], str]:
        port = pick_free_port()
        args = [
            sys.executable,
            "server.py",
            "serve",
            "--host",
            LOOPBACK_HOST,
            "--port",
            str(port),
        ]
        url = f"http://{LOOPBACK_HOST}:{port}"
        process = self._start_server(
            "gateway",
            args,
            environment,
            url + HEALTHZ_PATH,
            GATEWAY_READY_SECONDS,
            hidden,
        )
        return process, url

    def _start_server(
        self,
        name: str,
        args: list[str],
        environment: dict[str, str] | None,
        ready_url: str,
        ready_timeout_seconds: float,
        hidden: tuple[str, ...] = (),
    ) -> subprocess.Popen[str]:
        """Start a server with its output in a log file and wait for ``ready_url``."""
        log_path = self.work_dir / f"{name.replace(' ', '-')}.log"
        with log_path.open("w") as log_file:
            process = self.children.start(
                args, env=environment, cwd=self.repo_root, stdout=log_file
            )
        logger.info("started the %s, pid %d, at %s", name, process.pid, ready_url)
        try:
            wait_until_ready(
                ready_url, lambda: process.poll() is None, ready_timeout_seconds
            )
        except RuntimeError as error:
            log_tail = gateway_setup.redact(_read_tail(log_path), hidden)
            raise BenchmarkError(
                f"the {name} did not start: {error}\nlast lines of its output:\n"
                f"{log_tail}"
            ) from error
        return process

    def _require_running(self, process: subprocess.Popen[str], name: str) -> None:
        if process.poll() is not None:
            raise BenchmarkError(
                f"the {name} (pid {process.pid}) exited with code {process.returncode}"
            )

    def _next_script_path(self) -> Path:
        self._script_count += 1
        return self.work_dir / f"wrk-{self._script_count:02d}.lua"


def _echo_request(url: str, authorization: str | None) -> WrkRequest:
    headers = {"Content-Type": "application/json"}
    if authorization is not None:
        headers["Authorization"] = authorization
    return WrkRequest(url, "POST", headers, ECHO_BODY)


def _token_request(
    url: str, credentials: gateway_setup.GatewayCredentials
) -> WrkRequest:
    authorization = gateway_setup.client_basic_authorization(
        credentials.client_id, credentials.client_secret
    )
    headers = {
        "Authorization": authorization,
        "Content-Type": "application/x-www-form-urlencoded",
    }
    return WrkRequest(url, "POST", headers, "grant_type=client_credentials")


def _read_tail(path: Path) -> str:
    try:
        lines = path.read_text(errors="replace").splitlines()
    except OSError as error:
        return f"(cannot read {path}: {error})"
    return "\n".join(lines[-LOG_TAIL_LINES:])
