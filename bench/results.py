"""Benchmark results: scenario rows, performance targets and their Markdown tables.

A throughput scenario is measured in paired rounds, each a run of the bare handler
followed by a run of the scenario, so that both runs of a round see about the same
machine speed. The scenario's ratio to bare is the median of its round ratios.
"""

from collections.abc import Sequence
from dataclasses import dataclass

from bench.report import render_table
from bench.wrk_runner import WrkResult

# Performance targets of the gateway. Ratios compare requests per second with the bare
# Tornado handler measured in the same round.
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


def median_index(values: Sequence[float]) -> int:
    """Return the index of the median of ``values``.

    For an even number of values it is the lower of the two middle values, so that the
    median is always a measured value. Raises ValueError when ``values`` is empty.
    """
    if not values:
        raise ValueError("cannot take the median of no values")
    order = sorted(range(len(values)), key=lambda index: values[index])
    return order[(len(values) - 1) // 2]


def median_run(runs: Sequence[ScenarioResult]) -> ScenarioResult:
    """Return the run with the median request rate, as ``median_index`` picks it."""
    rates = [run.wrk.requests_per_second for run in runs]
    return runs[median_index(rates)]


@dataclass(frozen=True)
class PairedRound:
    """A run of the bare handler and the scenario run that followed it."""

    bare: ScenarioResult
    scenario: ScenarioResult

    @property
    def ratio(self) -> float:
        """Scenario requests per second divided by bare requests per second."""
        return self.scenario.wrk.requests_per_second / self.bare.wrk.requests_per_second


@dataclass(frozen=True)
class PairedScenario:
    """A throughput scenario measured in one or more paired rounds."""

    rounds: tuple[PairedRound, ...]

    def __post_init__(self) -> None:
        if not self.rounds:
            raise ValueError("a paired scenario needs at least one round")

    @property
    def name(self) -> str:
        """Scenario name, the same in every round."""
        return self.rounds[0].scenario.name

    def median_round(self) -> PairedRound:
        """Return the round with the median ratio, as ``median_index`` picks it."""
        ratios = [paired_round.ratio for paired_round in self.rounds]
        return self.rounds[median_index(ratios)]

    def ratio_range(self) -> tuple[float, float]:
        """Return the lowest and the highest round ratio."""
        ratios = [paired_round.ratio for paired_round in self.rounds]
        return min(ratios), max(ratios)

    def unexpected_responses(self) -> str | None:
        """Describe unexpected responses in any run of any round, or return None.

        Bare runs count too, because a failing bare run distorts its round's ratio.
        """
        problems = []
        for number, paired_round in enumerate(self.rounds, start=1):
            runs = (("bare", paired_round.bare), ("scenario", paired_round.scenario))
            for label, run in runs:
                problem = run.unexpected_responses()
                if problem is not None:
                    problems.append(f"round {number} {label}: {problem}")
        return "; ".join(problems) or None

    def describe_responses(self) -> str:
        """Summarize the responses of every round for the scenario table."""
        problem = self.unexpected_responses()
        if problem is not None:
            return f"**unexpected**: {problem}"
        return self.median_round().scenario.describe_responses()


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


def check_ratio(name: str, scenario: PairedScenario, minimum: float) -> TargetCheck:
    """Check that the median round ratio of ``scenario`` reaches ``minimum``.

    A scenario with unexpected responses in any round fails, because error responses
    can be faster than the work that the target measures.
    """
    ratio = scenario.median_round().ratio
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


def render_scenario_table(
    bare_runs: Sequence[ScenarioResult],
    paired: Sequence[PairedScenario],
    others: Sequence[ScenarioResult],
) -> str:
    """Render the bare row, one row per paired scenario, then the other scenarios.

    The bare row is the bare run with the median rate. A paired scenario's row shows
    the round with the median ratio and the range of its round ratios. The other
    scenarios ran under a different number of connections, so they have no ratio.
    """
    header = [
        "Scenario",
        "Connections",
        "Requests/s",
        "p50 (ms)",
        "p99 (ms)",
        "Ratio to bare",
        "Ratio range",
        "Responses",
    ]
    bare_responses = _describe_bare_responses(bare_runs)
    rows = [_scenario_row(median_run(bare_runs), "1.00", "n/a", bare_responses)]
    for scenario in paired:
        lowest, highest = scenario.ratio_range()
        rows.append(
            _scenario_row(
                scenario.median_round().scenario,
                f"{scenario.median_round().ratio:.2f}",
                f"{lowest:.2f}-{highest:.2f}",
                scenario.describe_responses(),
            )
        )
    for other in others:
        rows.append(_scenario_row(other, "n/a", "n/a", other.describe_responses()))
    return render_table(header, rows, right_aligned=(1, 2, 3, 4, 5, 6))


def _scenario_row(
    result: ScenarioResult, ratio: str, ratio_range: str, responses: str
) -> list[str]:
    return [
        result.name,
        str(result.connections),
        f"{result.wrk.requests_per_second:,.0f}",
        f"{result.wrk.p50_ms:.2f}",
        f"{result.wrk.p99_ms:.2f}",
        ratio,
        ratio_range,
        responses,
    ]


def _describe_bare_responses(bare_runs: Sequence[ScenarioResult]) -> str:
    problems = []
    for number, run in enumerate(bare_runs, start=1):
        problem = run.unexpected_responses()
        if problem is not None:
            problems.append(f"run {number}: {problem}")
    if problems:
        return "**unexpected**: " + "; ".join(problems)
    return median_run(bare_runs).describe_responses()


def describe_bare_rates(bare_runs: Sequence[ScenarioResult]) -> str:
    """Return a sentence with the lowest and the highest rate of the bare runs."""
    rates = [run.wrk.requests_per_second for run in bare_runs]
    runs = "1 run" if len(rates) == 1 else f"{len(rates)} runs"
    return (
        f"The {runs} of the bare handler measured between {min(rates):,.0f} and "
        f"{max(rates):,.0f} requests/s."
    )


def render_target_table(checks: list[TargetCheck]) -> str:
    """Render one row per target with the measured value and PASS or FAIL."""
    header = ["Target", "Measured", "Required", "Result"]
    rows = [
        [check.name, check.measured, check.required, check.describe_result()]
        for check in checks
    ]
    return render_table(header, rows)
