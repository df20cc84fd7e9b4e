"""`espia agent` as a test subprocess on a loopback port, as a DaemonSet would run it."""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import subprocess
import threading
import time


class AgentProcess:
    def __init__(self, node: str, *args: str) -> None:
        self.proc = subprocess.Popen(
            ["espia", "agent", "--listen", "127.0.0.1:0", *args],
            stderr=subprocess.PIPE,
            text=True,
            env={**os.environ, "NODE_NAME": node},
        )
        assert self.proc.stderr is not None
        seen: list[str] = []
        found = None
        # Warnings may come first (a runtime that does not answer), then the address.
        while found is None:
            line = self.proc.stderr.readline()
            assert line, "the agent ended before listening: " + "".join(seen)
            seen.append(line)
            found = re.search(r"listening on (127\.0\.0\.1:\d+)", line)
        self.address = found.group(1)
        self.stderr: list[str] = seen
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.proc.stderr is not None
        with self.proc.stderr:
            self.stderr.extend(self.proc.stderr)

    def stop(self) -> int:
        """SIGTERM, then the exit status.  An agent still there 30 s later is killed (and
        the test fails): a test never leaves an agent behind."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            code = self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            raise AssertionError("the agent was still running 30 s after SIGTERM") from None
        finally:
            self._reader.join(5)
        return code


def programs_held_by(pid: int) -> list[str]:
    """Names of the eBPF programs whose file descriptors process `pid` holds."""
    names = []
    for fd in os.listdir(f"/proc/{pid}/fd"):
        with contextlib.suppress(FileNotFoundError):
            if os.readlink(f"/proc/{pid}/fd/{fd}") != "anon_inode:bpf-prog":
                continue
            with open(f"/proc/{pid}/fdinfo/{fd}") as info:
                ids = [line.split()[1] for line in info if line.startswith("prog_id:")]
            shown = subprocess.run(
                ["bpftool", "-j", "prog", "show", "id", ids[0]], capture_output=True, text=True
            )
            name = json.loads(shown.stdout or "{}").get("name")
            if name is not None:  # else it was closed between the two reads
                names.append(name)
    return sorted(names)


# The container tracker's programs (espia/containers/tracker): what an agent holds for its
# whole life, and all it holds while no gadget runs.
TRACKER_PROGRAMS = ["on_cgroup_mkdir", "on_exec", "on_unshare"]


def until_idle(pids: dict[str, int], timeout: float = 20) -> None:
    """Waits until each agent in `pids` (node: pid) holds its tracker's programs only.

    A run ends on the agent after its client has its summary (the agent closes the
    gadget once the stream is done), so a test that starts right after another waits
    here first; one still holding a gadget's programs after `timeout` fails the test.
    """
    deadline = time.monotonic() + timeout
    while (held := {node: programs_held_by(pid) for node, pid in pids.items()}) != dict.fromkeys(
        pids, TRACKER_PROGRAMS
    ):
        assert time.monotonic() < deadline, held
        time.sleep(0.2)
