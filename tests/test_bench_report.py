"""Benchmark results from paired rounds: median selection, ratio range, report text.

These tests build wrk results by hand, so they start no server and run no wrk.
"""

from __future__ import annotations

import pytest

from bench.harness import BenchmarkResults
from bench.results import (
    MIN_INTEGRATION_RATIO,
    PairedRound,
    PairedScenario,
    ScenarioResult,
    check_ratio,
    describe_bare_rates,
    median_index,
    median_run,
    render_scenario_table,
)
from bench.run_benchmarks import parse_arguments, render_report, rerun_command
from bench.wrk_runner import WrkResult

BARE_NAME = "Bare Tornado handler, POST"
BEARER_NAME = "POST echo, Bearer token"


def make_run(
    name: str,
    rate: float,
    p50_ms: float = 1.0,
    p99_ms: float = 2.0,
    connections: int = 10,
    error_responses: int = 0,
) -> ScenarioResult:
    wrk = WrkResult(
        requests=int(rate * 5),
        requests_per_second=rate,
        p50_ms=p50_ms,
        p99_ms=p99_ms,
        error_responses=error_responses,
        connect_errors=0,
        read_errors=0,
        write_errors=0,
        timeouts=0,
        status_counts={},
    )
    return ScenarioResult(name, connections, wrk, first_status=200)


def make_scenario(*rates: tuple[float, float]) -> PairedScenario:
    """Build a Bearer scenario from (bare rate, scenario rate) pairs, one per round.

    Each scenario run's p50 is its round number, so a test can tell the rounds apart.
    """
    rounds = tuple(
        PairedRound(
            bare=make_run(BARE_NAME, bare_rate),
            scenario=make_run(BEARER_NAME, rate, p50_ms=float(number)),
        )
        for number, (bare_rate, rate) in enumerate(rates, start=1)
    )
    return PairedScenario(rounds)


def table_row(table: str, name: str) -> list[str]:
    for line in table.splitlines():
        cells = [cell.strip() for cell in line.strip("|").split("|")]
        if cells[0] == name:
            return cells
    raise AssertionError(f"no row named {name!r} in:\n{table}")


def test_median_index_odd_count() -> None:
    assert median_index([3.0, 1.0, 2.0]) == 2


def test_median_index_even_takes_lower() -> None:
    assert median_index([4.0, 1.0, 3.0, 2.0]) == 3


def test_median_index_single_value() -> None:
    assert median_index([7.0]) == 0


def test_median_index_empty_raises() -> None:
    with pytest.raises(ValueError, match="no values"):
        median_index([])


def test_median_run_by_rate() -> None:
    runs = [make_run(BARE_NAME, rate) for rate in (5000.0, 3000.0, 4000.0)]

    assert median_run(runs) is runs[2]


def test_round_ratio_divides_rates() -> None:
    paired_round = PairedRound(make_run(BARE_NAME, 4000.0), make_run("x", 1000.0))

    assert paired_round.ratio == pytest.approx(0.25)


def test_median_round_and_range() -> None:
    # Round ratios 0.30, 0.50 and 0.45. The bare rate drifts, so the round with the
    # median ratio has neither the median bare rate nor the median scenario rate.
    scenario = make_scenario((3000.0, 900.0), (2000.0, 1000.0), (4000.0, 1800.0))

    median = scenario.median_round()
    lowest, highest = scenario.ratio_range()

    assert median is scenario.rounds[2]
    assert median.ratio == pytest.approx(0.45)
    assert lowest == pytest.approx(0.30)
    assert highest == pytest.approx(0.50)


def test_median_round_even_takes_lower() -> None:
    scenario = make_scenario((1000.0, 600.0), (1000.0, 400.0))

    assert scenario.median_round() is scenario.rounds[1]


def test_paired_scenario_needs_round() -> None:
    with pytest.raises(ValueError, match="at least one round"):
        PairedScenario(())


def test_unexpected_responses_name_round() -> None:
    good = PairedRound(make_run(BARE_NAME, 4000.0), make_run(BEARER_NAME, 2000.0))
    failing_bare = PairedRound(
        make_run(BARE_NAME, 4000.0, error_responses=3),
        make_run(BEARER_NAME, 2000.0),
    )

    problem = PairedScenario((good, failing_bare)).unexpected_responses()

    assert problem is not None
    assert problem.startswith("round 2 bare: ")
    assert "3 of 20000 responses had status >= 400" in problem
    assert PairedScenario((good,)).unexpected_responses() is None


def test_check_ratio_uses_median() -> None:
    # The best round passes the target, but the median round does not.
    scenario = make_scenario((4000.0, 1600.0), (4000.0, 2400.0), (4000.0, 1800.0))

    check = check_ratio("Integration call, Bearer", scenario, MIN_INTEGRATION_RATIO)

    assert check.measured == "0.45 x bare"
    assert check.required == ">= 0.50 x bare"
    assert check.passed is False
    assert check.describe_result() == "FAIL"


def test_check_ratio_passes_at_median() -> None:
    scenario = make_scenario((4000.0, 1600.0), (4000.0, 2400.0), (4000.0, 2000.0))

    check = check_ratio("Integration call, Bearer", scenario, MIN_INTEGRATION_RATIO)

    assert check.measured == "0.50 x bare"
    assert check.passed is True


def test_check_ratio_fails_on_errors() -> None:
    scenario = PairedScenario(
        (
            PairedRound(
                make_run(BARE_NAME, 4000.0),
                make_run(BEARER_NAME, 3000.0, error_responses=1),
            ),
        )
    )

    check = check_ratio("Integration call, Bearer", scenario, MIN_INTEGRATION_RATIO)

    assert check.passed is False
    assert check.describe_result() == "FAIL (unexpected responses)"


def test_scenario_table_rows() -> None:
    scenario = make_scenario((3000.0, 900.0), (2000.0, 1000.0), (4000.0, 1800.0))
    bare_runs = [paired_round.bare for paired_round in scenario.rounds]
    healthz = make_run("GET /healthz during the flood", 65.0, connections=1)

    table = render_scenario_table(bare_runs, [scenario], [healthz])

    assert table.splitlines()[0] == (
        "| Scenario | Connections | Requests/s | p50 (ms) | p99 (ms) "
        "| Ratio to bare | Ratio range | Responses |"
    )
    assert table_row(table, BARE_NAME) == [
        BARE_NAME,
        "10",
        "3,000",
        "1.00",
        "2.00",
        "1.00",
        "n/a",
        "all below 400",
    ]
    assert table_row(table, BEARER_NAME) == [
        BEARER_NAME,
        "10",
        "1,800",
        "3.00",
        "2.00",
        "0.45",
        "0.30-0.50",
        "all below 400",
    ]
    assert table_row(table, "GET /healthz during the flood")[5:7] == ["n/a", "n/a"]


def test_scenario_table_bare_errors() -> None:
    scenario = PairedScenario(
        (
            PairedRound(
                make_run(BARE_NAME, 4000.0, error_responses=2),
                make_run(BEARER_NAME, 2000.0),
            ),
        )
    )
    bare_runs = [scenario.rounds[0].bare]

    table = render_scenario_table(bare_runs, [scenario], [])

    assert table_row(table, BARE_NAME)[7] == (
        "**unexpected**: run 1: 2 of 20000 responses had status >= 400"
    )
    assert table_row(table, BEARER_NAME)[7] == (
        "**unexpected**: round 1 bare: 2 of 20000 responses had status >= 400"
    )


def test_bare_rates_sentence() -> None:
    runs = [make_run(BARE_NAME, rate) for rate in (4100.0, 3050.4, 5210.0)]

    assert describe_bare_rates(runs) == (
        "The 3 runs of the bare handler measured between 3,050 and 5,210 requests/s."
    )


def test_rounds_option_default_and_minimum(capsys: pytest.CaptureFixture[str]) -> None:
    assert parse_arguments([]).rounds == 5

    with pytest.raises(SystemExit) as exit_info:
        parse_arguments(["--rounds", "0"])

    assert exit_info.value.code == 2
    assert "--rounds must be at least 1, got 0" in capsys.readouterr().err


def test_rerun_command_has_rounds() -> None:
    arguments = parse_arguments(["--rounds", "5", "--duration", "4"])

    command = rerun_command(arguments)

    assert " --duration 4 --warmup 3 --rounds 5 " in command


def test_report_describes_method() -> None:
    arguments = parse_arguments(["--rounds", "2", "--duration", "7", "--warmup", "1"])
    scenario = make_scenario((4000.0, 2000.0), (3000.0, 1200.0))
    bare_runs = [paired_round.bare for paired_round in scenario.rounds]
    results = BenchmarkResults(bare_runs, [scenario], [], [])

    markdown = " ".join(render_report(results, arguments, "COMMAND").split())

    assert "ran in 2 paired rounds." in markdown
    assert "7 s each and back to back" in markdown
    assert "one unmeasured 1 s warm-up before their first measured run" in markdown
    assert "the lower of the two middle ratios" in markdown
    assert "| 0.40 | 0.40-0.50 |" in markdown
    assert "measured between 3,000 and 4,000 requests/s." in markdown
