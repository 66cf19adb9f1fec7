"""Benchmark results: scenario rows, performance targets and their Markdown tables."""

from dataclasses import dataclass

from bench.report import render_table
from bench.wrk_runner import WrkResult

# Performance targets of the gateway. Ratios compare requests per second with the bare
# Tornado handler measured in the same run.
MIN_INTEGRATION_RATIO = 0.5
MIN_TOKEN_RATIO = 0.3
MAX_HEALTHZ_P99_MS = 50.0
MAX_PEAK_RESIDENT_MIB = 150.0


@dataclass(frozen=True)
class ScenarioResult:
    """One measured wrk run and the responses that the scenario expects."""

    name: str
    connections: int
    wrk: WrkResult
    first_status: int
    # Statuses that every response must have, or None to accept any status below 400.
    # Fixed statuses need wrk's status counts, see WrkSettings.count_statuses.
    expected_statuses: frozenset[int] | None = None

    def unexpected_responses(self) -> str | None:
        """Describe the responses that the scenario did not expect, or return None."""
        problems = []
        if self.expected_statuses is None:
            if not 200 <= self.first_status < 400:
                problems.append(f"first request returned {self.first_status}")
            if self.wrk.error_responses:
                problems.append(
                    f"{self.wrk.error_responses} of {self.wrk.requests} "
                    "responses had status >= 400"
                )
        else:
            if self.first_status not in self.expected_statuses:
                problems.append(f"first request returned {self.first_status}")
            others = {
                status: count
                for status, count in self.wrk.status_counts.items()
                if status not in self.expected_statuses
            }
            if others:
                problems.append(f"got {_format_status_counts(others)}")
            if not self.wrk.status_counts and self.wrk.requests:
                problems.append("response statuses were not counted")
        if self.wrk.socket_errors:
            problems.append(
                f"{self.wrk.socket_errors} socket errors ({self.wrk.timeouts} timeouts)"
            )
        return "; ".join(problems) or None

    def describe_responses(self) -> str:
        """Summarize the responses for the scenario table."""
        problem = self.unexpected_responses()
        if problem is not None:
            return f"**unexpected**: {problem}"
        if self.expected_statuses is not None:
            return _format_status_counts(self.wrk.status_counts)
        return "all below 400"


def _format_status_counts(status_counts: dict[int, int]) -> str:
    return ", ".join(
        f"{count} x {status}" for status, count in sorted(status_counts.items())
    )


@dataclass(frozen=True)
class TargetCheck:
    """One performance target with the measured value and whether it was met."""

    name: str
    measured: str
    required: str
    passed: bool
    reason: str = ""

    def describe_result(self) -> str:
        """Return PASS or FAIL, with the reason for a FAIL that the numbers hide."""
        if self.passed:
            return "PASS"
        return f"FAIL ({self.reason})" if self.reason else "FAIL"


def check_ratio(
    name: str, scenario: ScenarioResult, bare: ScenarioResult, minimum: float
) -> TargetCheck:
    """Check that ``scenario`` reaches ``minimum`` times the bare handler's rate.

    A scenario with unexpected responses fails, because error responses can be faster
    than the work that the target measures.
    """
    ratio = scenario.wrk.requests_per_second / bare.wrk.requests_per_second
    problem = scenario.unexpected_responses()
    return TargetCheck(
        name=name,
        measured=f"{ratio:.2f} x bare",
        required=f">= {minimum:.2f} x bare",
        passed=ratio >= minimum and problem is None,
        reason="unexpected responses" if problem else "",
    )


def check_healthz_latency(healthz: ScenarioResult) -> TargetCheck:
    """Check the p99 latency of /healthz measured during the wrong-password flood."""
    problem = healthz.unexpected_responses()
    return TargetCheck(
        name="GET /healthz p99 during the wrong-password flood",
        measured=f"{healthz.wrk.p99_ms:.2f} ms",
        required=f"< {MAX_HEALTHZ_P99_MS:.0f} ms",
        passed=healthz.wrk.p99_ms < MAX_HEALTHZ_P99_MS and problem is None,
        reason="unexpected responses" if problem else "",
    )


def check_peak_memory(peak_resident_mib: float) -> TargetCheck:
    """Check the gateway's peak resident set size after all scenarios."""
    return TargetCheck(
        name="Gateway peak resident memory (VmHWM)",
        measured=f"{peak_resident_mib:.1f} MiB",
        required=f"< {MAX_PEAK_RESIDENT_MIB:.0f} MiB",
        passed=peak_resident_mib < MAX_PEAK_RESIDENT_MIB,
    )


def render_scenario_table(scenarios: list[ScenarioResult], bare: ScenarioResult) -> str:
    """Render one row per scenario with its rate, latency and ratio to bare."""
    header = [
        "Scenario",
        "Connections",
        "Requests/s",
        "p50 (ms)",
        "p99 (ms)",
        "Ratio to bare",
        "Responses",
    ]
    rows = []
    for scenario in scenarios:
        # Rates are comparable only under the same number of connections.
        ratio = "n/a"
        if scenario.connections == bare.connections:
            rate_ratio = scenario.wrk.requests_per_second / bare.wrk.requests_per_second
            ratio = f"{rate_ratio:.2f}"
        rows.append(
            [
                scenario.name,
                str(scenario.connections),
                f"{scenario.wrk.requests_per_second:,.0f}",
                f"{scenario.wrk.p50_ms:.2f}",
                f"{scenario.wrk.p99_ms:.2f}",
                ratio,
                scenario.describe_responses(),
            ]
        )
    return render_table(header, rows, right_aligned=(1, 2, 3, 4, 5))


def render_target_table(checks: list[TargetCheck]) -> str:
    """Render one row per target with the measured value and PASS or FAIL."""
    header = ["Target", "Measured", "Required", "Result"]
    rows = [
        [check.name, check.measured, check.required, check.describe_result()]
        for check in checks
    ]
    return render_table(header, rows)
