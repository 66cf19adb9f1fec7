"""Benchmark the gateway against a bare Tornado handler with wrk, on loopback.

Run from the repository root:

    .venv/bin/python bench/run_benchmarks.py [--duration S] [--warmup S]
        [--rounds N] [--connections N] [--threads N] [--output docs/benchmarks.md]

The script prints a Markdown report and writes it into the output file. It exits 0
when the report was produced, even if a performance target was missed, 1 when the
benchmark could not run, and 128 plus the signal number when it was interrupted.
"""

import argparse
import logging
import os
import shlex
import shutil
import signal
import sys
import tempfile
import textwrap
from pathlib import Path
from types import FrameType

REPO_ROOT = Path(__file__).resolve().parent.parent
if __package__ in (None, ""):
    # Run as a script, Python puts bench/ first on sys.path, where the harness modules
    # would shadow installed packages. The repository root makes `bench` importable.
    sys.path[0] = str(REPO_ROOT)

from bench import report  # noqa: E402
from bench.gateway_setup import GatewaySetupError  # noqa: E402
from bench.harness import (  # noqa: E402
    FLOOD_CONNECTIONS,
    HEALTHZ_PROBE_CONNECTIONS,
    Benchmark,
    BenchmarkError,
    BenchmarkResults,
    BenchmarkSettings,
)
from bench.processes import ChildProcesses  # noqa: E402
from bench.results import (  # noqa: E402
    describe_bare_rates,
    render_scenario_table,
    render_target_table,
)
from bench.wrk_runner import WrkError  # noqa: E402

logger = logging.getLogger("bench")

_STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


class StopRequested(BaseException):
    """A stop signal arrived.

    It derives from BaseException so that ``except Exception`` blocks let it through.
    """

    def __init__(self, signal_number: int) -> None:
        super().__init__(signal_number)
        self.signal_number = signal_number


def _raise_stop_requested(signal_number: int, frame: FrameType | None) -> None:
    raise StopRequested(signal_number)


def parse_arguments(argv: list[str] | None = None) -> argparse.Namespace:
    """Parse and validate the command line."""
    parser = _build_parser()
    arguments = parser.parse_args(argv)

    if arguments.duration < 1:
        parser.error(f"--duration must be at least 1 second, got {arguments.duration}")
    if arguments.warmup < 0:
        parser.error(f"--warmup must be 0 or more seconds, got {arguments.warmup}")
    if arguments.rounds < 1:
        parser.error(f"--rounds must be at least 1, got {arguments.rounds}")
    if arguments.threads < 1:
        parser.error(f"--threads must be at least 1, got {arguments.threads}")
    if arguments.connections < arguments.threads:
        parser.error(
            f"--connections ({arguments.connections}) must be at least --threads "
            f"({arguments.threads}), because each wrk thread needs a connection"
        )
    return arguments


def _build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        description="Benchmark the gateway against a bare Tornado handler with wrk."
    )
    # With the defaults the wrk runs take 174 s: 3 scenarios x 5 rounds x 2 runs x 5 s,
    # 4 warm-ups of 3 s and 12 s for the /healthz scenario with its flood.
    parser.add_argument(
        "--duration",
        type=int,
        default=5,
        help="length of each measured wrk run, in whole seconds (default: 5)",
    )
    parser.add_argument(
        "--warmup",
        type=int,
        default=3,
        help="length of the unmeasured wrk run before each scenario's first "
        "measured run, in whole seconds; 0 skips it (default: 3)",
    )
    parser.add_argument(
        "--rounds",
        type=int,
        default=5,
        help="paired rounds per throughput scenario, each a bare handler run and "
        "then a scenario run (default: 5)",
    )
    parser.add_argument(
        "--connections",
        type=int,
        default=10,
        help="concurrent wrk connections in the throughput scenarios (default: 10)",
    )
    parser.add_argument(
        "--threads",
        type=int,
        default=1,
        help="number of wrk threads per wrk process (default: 1)",
    )
    parser.add_argument(
        "--output",
        type=Path,
        default=Path("docs/benchmarks.md"),
        help="Markdown file whose results section is rewritten "
        "(default: docs/benchmarks.md)",
    )
    return parser


def rerun_command(arguments: argparse.Namespace) -> str:
    """Return the shell command that reruns this benchmark from the repository root."""
    return shlex.join(
        [
            _relative_to_repo(Path(sys.executable)),
            _relative_to_repo(Path(__file__)),
            "--duration",
            str(arguments.duration),
            "--warmup",
            str(arguments.warmup),
            "--rounds",
            str(arguments.rounds),
            "--connections",
            str(arguments.connections),
            "--threads",
            str(arguments.threads),
            "--output",
            _relative_to_repo(arguments.output),
        ]
    )


def _relative_to_repo(path: Path) -> str:
    # abspath keeps the venv's python symlink, which resolve() would follow.
    absolute = Path(os.path.abspath(path))
    try:
        return str(absolute.relative_to(REPO_ROOT))
    except ValueError:
        return str(absolute)


def _count(number: int, noun: str) -> str:
    return f"{number} {noun}" if number == 1 else f"{number} {noun}s"


def _describe_method(arguments: argparse.Namespace) -> str:
    rounds = _count(arguments.rounds, "paired round")
    threads = _count(arguments.threads, "thread")
    probe_connections = _count(HEALTHZ_PROBE_CONNECTIONS, "connection")
    paragraphs = [
        "Each throughput scenario (Bearer, Basic and token issuance) ran in "
        f"{rounds}. A round ran wrk against the bare handler and then against the "
        f"scenario, {arguments.duration} s each and back to back, so that both runs "
        "see about the same machine speed. The bare handler and each scenario had "
        f"one unmeasured {arguments.warmup} s warm-up before their first measured "
        "run. A round's ratio divides the scenario's rate by the bare handler's rate "
        "in that round. A scenario's row shows the median ratio, with the lower of "
        "the two middle ratios for an even number of rounds, and the rate and "
        "latencies of the round with that ratio. The Ratio range column gives the "
        "lowest and the highest round ratio. The bare row shows the bare handler run "
        "with the median rate. The targets are checked on the median ratios.",
        f"Every run used wrk with {threads} and `--latency` against a server on "
        f"127.0.0.1. The /healthz scenario ran once, for {arguments.duration} s after "
        f"a {arguments.warmup} s warm-up, while another wrk sent wrong Basic "
        f"passwords over {FLOOD_CONNECTIONS} connections. It measured /healthz over "
        f"{probe_connections}. The gateway used SQLite and its default bcrypt cost "
        "(GATEWAY_BCRYPT_ROUNDS unset). p50 and p99 are the percentiles that wrk "
        "prints.",
    ]
    return "\n\n".join(textwrap.fill(paragraph, width=88) for paragraph in paragraphs)


def render_report(
    results: BenchmarkResults, arguments: argparse.Namespace, command: str
) -> str:
    """Render the results section of the Markdown report."""
    machine_rows = [
        [label, value] for label, value in report.describe_machine(REPO_ROOT)
    ]
    return "\n".join(
        [
            "## Results",
            "",
            report.render_table(["Setting", "Value"], machine_rows),
            "",
            "Rerun from the repository root with:",
            "",
            "```sh",
            command,
            "```",
            "",
            _describe_method(arguments),
            "",
            "### Scenarios",
            "",
            render_scenario_table(results.bare_runs, results.paired, results.others),
            "",
            describe_bare_rates(results.bare_runs),
            "",
            "### Targets",
            "",
            render_target_table(results.checks),
        ]
    )


def run(arguments: argparse.Namespace, children: ChildProcesses, work_dir: Path) -> str:
    """Run the benchmark and return the Markdown results section."""
    if shutil.which("wrk") is None:
        raise BenchmarkError(
            "wrk not found on PATH; install it with `apt-get install wrk`"
        )
    if not (REPO_ROOT / "server.py").is_file():
        raise BenchmarkError(f"gateway entry point {REPO_ROOT / 'server.py'} not found")

    settings = BenchmarkSettings(
        duration_seconds=arguments.duration,
        warmup_seconds=arguments.warmup,
        connections=arguments.connections,
        threads=arguments.threads,
        rounds=arguments.rounds,
    )
    results = Benchmark(settings, children, REPO_ROOT, work_dir).run()
    return render_report(results, arguments, rerun_command(arguments))


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark, print and write the report, and return the exit code."""
    arguments = parse_arguments(argv)
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s"
    )
    for signal_number in _STOP_SIGNALS:
        signal.signal(signal_number, _raise_stop_requested)

    children = ChildProcesses()
    work_dir = Path(tempfile.mkdtemp(prefix="gateway-bench-"))
    try:
        markdown = run(arguments, children, work_dir)
    except (BenchmarkError, GatewaySetupError, WrkError) as error:
        logger.error("benchmark failed: %s", error)
        return 1
    except StopRequested as stop:
        logger.error(
            "stopped by %s before the report was complete",
            signal.Signals(stop.signal_number).name,
        )
        return 128 + stop.signal_number
    finally:
        # A second signal during cleanup must not leave servers running.
        for signal_number in _STOP_SIGNALS:
            signal.signal(signal_number, signal.SIG_IGN)
        children.stop_all()
        shutil.rmtree(work_dir, ignore_errors=True)

    print(markdown)
    report.write_results(arguments.output, markdown)
    logger.info("wrote the results to %s", arguments.output)
    return 0


if __name__ == "__main__":
    sys.exit(main())
