"""Child processes of the harness: start each in its own process group, stop them all.

Each child gets a new session, so a terminal's Ctrl-C reaches only the harness, which
then stops every group that it started. Stopping a group also ends the processes that a
server forked.
"""

import logging
import os
import signal
import subprocess
from collections.abc import Sequence
from pathlib import Path
from typing import IO

logger = logging.getLogger("bench.processes")

# Time that a process group gets to exit after SIGTERM before it receives SIGKILL.
STOP_GRACE_SECONDS = 5.0


class ChildProcesses:
    """Registry of the running children, each the leader of its own process group."""

    def __init__(self) -> None:
        self._running: list[subprocess.Popen[str]] = []

    def start(
        self,
        args: Sequence[str],
        *,
        env: dict[str, str] | None = None,
        cwd: Path | None = None,
        stdin: int | None = subprocess.DEVNULL,
        stdout: int | IO[str] | None = subprocess.PIPE,
        stderr: int | IO[str] | None = subprocess.STDOUT,
    ) -> subprocess.Popen[str]:
        """Start ``args`` in a new session and register the process."""
        process = subprocess.Popen(
            list(args),
            env=env,
            cwd=cwd,
            stdin=stdin,
            stdout=stdout,
            stderr=stderr,
            text=True,
            start_new_session=True,
        )
        self._running.append(process)
        logger.debug("started pid %d: %s", process.pid, args[0])
        return process

    def run(
        self,
        args: Sequence[str],
        *,
        env: dict[str, str] | None = None,
        cwd: Path | None = None,
        input_text: str | None = None,
        timeout_seconds: float,
    ) -> subprocess.CompletedProcess[str]:
        """Run ``args`` to completion and return its exit code, stdout and stderr.

        Raises subprocess.TimeoutExpired after stopping the process group when the
        command runs longer than ``timeout_seconds``.
        """
        process = self.start(
            args,
            env=env,
            cwd=cwd,
            stdin=subprocess.PIPE if input_text is not None else subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        try:
            stdout, stderr = process.communicate(input_text, timeout=timeout_seconds)
        finally:
            self.stop(process)
        return subprocess.CompletedProcess(
            process.args, process.returncode, stdout, stderr
        )

    def stop(self, process: subprocess.Popen[str]) -> None:
        """Terminate the process group of ``process`` and wait for its leader."""
        self._stop_groups([process])
        if process in self._running:
            self._running.remove(process)

    def stop_all(self) -> None:
        """Terminate every registered process group and wait for the leaders."""
        self._stop_groups(self._running)
        self._running.clear()

    def _stop_groups(self, processes: Sequence[subprocess.Popen[str]]) -> None:
        for process in processes:
            if process.poll() is None:
                _signal_group(process.pid, signal.SIGTERM)

        for process in processes:
            try:
                process.wait(timeout=STOP_GRACE_SECONDS)
            except subprocess.TimeoutExpired:
                logger.warning(
                    "pid %d did not exit %.0f s after SIGTERM, sending SIGKILL",
                    process.pid,
                    STOP_GRACE_SECONDS,
                )
                _signal_group(process.pid, signal.SIGKILL)
                process.wait()

            # Children that a server forked may outlive their parent, so the group
            # receives SIGKILL even after the leader exited.
            _signal_group(process.pid, signal.SIGKILL)

            for stream in (process.stdin, process.stdout, process.stderr):
                if stream is not None:
                    stream.close()


def _signal_group(process_group_id: int, signal_number: int) -> None:
    try:
        os.killpg(process_group_id, signal_number)
    except ProcessLookupError:
        pass


def peak_resident_kib(pid: int) -> int:
    """Return VmHWM, the peak resident set size in KiB, of ``pid`` and its descendants.

    The sum counts pages shared between a parent and its forked children once per
    process, so for a forking server it is an upper bound. Raises OSError when the
    process no longer exists.
    """
    total_kib = 0
    for member in _process_tree(pid):
        status = Path(f"/proc/{member}/status").read_text()
        for line in status.splitlines():
            if line.startswith("VmHWM:"):
                total_kib += int(line.split()[1])
    return total_kib


def _process_tree(pid: int) -> list[int]:
    members = [pid]
    for task in Path(f"/proc/{pid}/task").iterdir():
        children_file = task / "children"
        if children_file.exists():
            for child in children_file.read_text().split():
                members.extend(_process_tree(int(child)))
    return members
