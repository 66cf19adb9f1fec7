"""Markdown output of the benchmark: machine description, tables and the results file.

The results file keeps everything outside the two marker comments, so sections
written by hand, such as a profile, survive reruns of the benchmark.
"""

import datetime
import os
import platform
import shutil
import subprocess
from pathlib import Path

import tornado

RESULTS_START_MARKER = "<!-- bench/run_benchmarks.py results: start -->"
RESULTS_END_MARKER = "<!-- bench/run_benchmarks.py results: end -->"

_NEW_FILE_HEAD = """# Benchmarks

Request rates and latencies of the gateway next to a bare Tornado handler, measured
with wrk on loopback by `bench/run_benchmarks.py` (`make bench`). Each run replaces
the text between the two marker comments below and keeps the rest of this file.

"""

_NEW_FILE_TAIL = """

## Profile

No profile has been recorded yet. This section is written by hand, and the benchmark
script leaves it unchanged.
"""


def render_table(
    header: list[str], rows: list[list[str]], right_aligned: tuple[int, ...] = ()
) -> str:
    """Render a Markdown table with the columns at ``right_aligned`` aligned right."""
    alignment = [
        "---:" if index in right_aligned else ":---" for index in range(len(header))
    ]
    lines = [_table_row(header), _table_row(alignment)]
    lines.extend(_table_row(row) for row in rows)
    return "\n".join(lines)


def _table_row(cells: list[str]) -> str:
    return "| " + " | ".join(cell.replace("|", "\\|") for cell in cells) + " |"


def describe_machine(repo_root: Path) -> list[tuple[str, str]]:
    """Return labelled facts about the hardware, software and revision under test."""
    now = datetime.datetime.now(datetime.UTC)
    return [
        ("Date", now.strftime("%Y-%m-%d %H:%M UTC")),
        ("CPU", _cpu_model()),
        ("Logical CPUs", str(os.cpu_count())),
        ("Memory", _total_memory()),
        ("OS", f"{_os_name()}, Linux kernel {platform.release()}"),
        ("Python", f"{platform.python_implementation()} {platform.python_version()}"),
        ("Tornado", tornado.version),
        ("wrk", wrk_version()),
        ("Gateway revision", _git_revision(repo_root)),
    ]


def _cpu_model() -> str:
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return platform.processor() or "unknown"


def _total_memory() -> str:
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemTotal:"):
            return f"{int(line.split()[1]) / 1024**2:.1f} GiB"
    return "unknown"


def _os_name() -> str:
    try:
        release = platform.freedesktop_os_release()
    except OSError:
        return platform.system()
    return release.get("PRETTY_NAME", release.get("NAME", platform.system()))


def wrk_version() -> str:
    """Return the version line of wrk without its copyright notice."""
    wrk_path = shutil.which("wrk")
    if wrk_path is None:
        return "not installed"
    # wrk prints its version, then the usage text because no URL is given, and exits 1.
    output = subprocess.run(
        [wrk_path, "--version"], capture_output=True, text=True, check=False
    ).stdout
    first_line = output.splitlines()[0] if output else "unknown"
    return first_line.split(" Copyright")[0].strip()


def _git_revision(repo_root: Path) -> str:
    git_path = shutil.which("git")
    if git_path is None:
        return "unknown (git not installed)"
    result = subprocess.run(
        [git_path, "describe", "--always", "--dirty", "--abbrev=12"],
        cwd=repo_root,
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        return "no commit yet"
    return result.stdout.strip()


def write_results(path: Path, results_markdown: str) -> None:
    """Write ``results_markdown`` between the marker comments of ``path``.

    A missing file is created with a title and an empty profile section. A file
    without both markers gets the results appended at its end.
    """
    block = f"{RESULTS_START_MARKER}\n{results_markdown.strip()}\n{RESULTS_END_MARKER}"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(_NEW_FILE_HEAD + block + _NEW_FILE_TAIL)
        return

    text = path.read_text()
    start = text.find(RESULTS_START_MARKER)
    end = text.find(RESULTS_END_MARKER, start)
    if start == -1 or end == -1:
        path.write_text(text.rstrip("\n") + "\n\n" + block + "\n")
        return
    path.write_text(text[:start] + block + text[end + len(RESULTS_END_MARKER) :])
