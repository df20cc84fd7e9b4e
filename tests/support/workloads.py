"""Workloads with known behaviour, and ways to watch espia while they run.

A workload is a real process doing real syscalls; the tests then assert the
exact events it caused.  Processes get a unique comm (prctl PR_SET_NAME) so
that an in-kernel comm filter isolates them from the rest of the machine.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, ClassVar

import pytest

ROOT = Path(__file__).resolve().parents[2]


def unique(prefix: str = "espia") -> str:
    """A name no earlier test run used."""
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def require(*binaries: str) -> None:
    """Skip the calling test unless every binary is installed (a skip fails the suite)."""
    if missing := [b for b in binaries if shutil.which(b) is None]:
        pytest.skip(f"not installed: {', '.join(missing)} (bootstrap.sh --test installs them)")


def comm_name() -> str:
    """A 15-character-safe comm unique to one test."""
    return f"es{uuid.uuid4().hex[:10]}"


# Python run in a child: set the comm first, then do the job, then _exit so
# that nothing else (no atexit, no flush) makes syscalls after the job.
PRELUDE = """
import ctypes, os, sys
ctypes.CDLL(None).prctl(15, sys.argv[1].encode(), 0, 0, 0)
"""


def run_python(comm: str, body: str, *args: str, check: bool = True) -> subprocess.CompletedProcess:
    """Runs `body` in a fresh Python process whose comm is `comm`."""
    code = PRELUDE + body + "\nsys.stdout.flush()\nos._exit(0)\n"
    return subprocess.run(
        [sys.executable, "-c", code, comm, *args],
        capture_output=True,
        text=True,
        check=check,
        timeout=60,
    )


class EspiaCli:
    """`espia ...` in a subprocess, its stdout read line by line in a thread.

    Every instance is killed at the end of its test (tests/conftest.py), so a
    failing test never leaves a gadget running into the next one.
    """

    running: ClassVar[list[EspiaCli]] = []

    def __init__(self, args: Sequence[str], env: dict[str, str] | None = None) -> None:
        self.args = ["espia", *args]
        self.proc = subprocess.Popen(
            self.args,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env={**os.environ, **(env or {})},
        )
        self.lines: list[str] = []
        self._stderr: list[str] = []
        self._cond = threading.Condition()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()
        self._err_reader = threading.Thread(target=self._read_stderr, daemon=True)
        self._err_reader.start()
        EspiaCli.running.append(self)

    @classmethod
    def kill_all(cls) -> None:
        while cls.running:
            cls.running.pop().kill()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        with self.proc.stdout:
            for line in self.proc.stdout:
                with self._cond:
                    self.lines.append(line.rstrip("\n"))
                    self._cond.notify_all()
        with self._cond:
            self._cond.notify_all()

    def _read_stderr(self) -> None:
        assert self.proc.stderr is not None
        with self.proc.stderr:
            self._stderr.extend(self.proc.stderr)

    def wait_for(self, predicate: Callable[[str], bool], timeout: float = 20) -> str:
        """The first output line for which `predicate` holds (waiting for it)."""
        deadline = time.monotonic() + timeout
        seen = 0
        with self._cond:
            while True:
                for line in self.lines[seen:]:
                    if predicate(line):
                        return line
                seen = len(self.lines)
                remaining = deadline - time.monotonic()
                if remaining <= 0 or (self.proc.poll() is not None and not self._reader.is_alive()):
                    raise AssertionError(
                        f"{' '.join(self.args)}: no matching line in {timeout}s; "
                        f"got {self.lines[-5:]}, stderr: {self.stderr_text()}"
                    )
                self._cond.wait(min(remaining, 0.1))

    def wait_ready(self, poke: Callable[[], None], marker: str, timeout: float = 20) -> None:
        """Repeats `poke` (a workload whose events contain `marker`) until espia shows one.

        The JSON output prints nothing before the first event, so this is how
        a test knows the programs are attached, without a hidden flag.
        """
        deadline = time.monotonic() + timeout
        while True:
            poke()
            try:
                self.wait_for(lambda line: marker in line, timeout=0.3)
                return
            except AssertionError:
                if time.monotonic() > deadline:
                    raise

    def stderr_text(self) -> str:
        return "".join(self._stderr)

    def finish(self, timeout: float = 30) -> tuple[int, list[str], str]:
        """Waits for exit; (returncode, stdout lines, stderr)."""
        code = self.proc.wait(timeout=timeout)
        self._reader.join(timeout)
        self._err_reader.join(timeout)
        return code, self.lines, self.stderr_text()

    def json_events(self) -> list[dict[str, Any]]:
        return [json.loads(line) for line in self.lines if line.startswith("{")]

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.finish()


def espia(*args: str, timeout: float = 60) -> subprocess.CompletedProcess:
    """Runs `espia args...` to completion."""
    return subprocess.run(["espia", *args], capture_output=True, text=True, timeout=timeout)
