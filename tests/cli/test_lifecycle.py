"""Whatever the way out, nothing of espia's stays in the kernel."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time

import pytest
from support.bpf import loaded_espia_objects
from support.workloads import EspiaCli, unique


@pytest.fixture(autouse=True)
def kernel_is_clean():
    assert loaded_espia_objects() == [], "a previous run left objects behind"
    yield
    assert loaded_espia_objects() == []


def poke(marker: str):
    def open_marker():
        with contextlib.suppress(FileNotFoundError):
            os.open(f"/tmp/{marker}", os.O_RDONLY)

    return open_marker


def started(*args: str) -> tuple[EspiaCli, str]:
    marker = unique("ready")
    cli = EspiaCli(["trace", "open", "-o", "json", "-F", f"path:~{marker}", *args])
    cli.wait_ready(poke(marker), marker)
    assert loaded_espia_objects(settle=0) != []
    return cli, marker


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_signal_detaches_and_exits_zero(sig):
    cli, _ = started()
    cli.proc.send_signal(sig)
    code, _, stderr = cli.finish()
    assert code == 0, stderr
    assert stderr == ""


def test_timeout_detaches_and_exits_zero():
    cli, _ = started("-t", "2")
    code, _, stderr = cli.finish()
    assert code == 0, stderr


def test_sigkill_leaves_nothing_since_nothing_is_pinned():
    cli, _ = started()
    cli.kill()
    # The check is kernel_is_clean's, after the test: the kernel freed every program,
    # link and map with the process's last file descriptor (espia pins nothing).


def test_reader_going_away_ends_quietly():
    marker = unique("pipe")
    proc = subprocess.Popen(
        ["espia", "trace", "open", "-F", f"path:~{marker}"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    assert proc.stdout is not None and proc.stderr is not None
    proc.stdout.readline()  # the header: attached
    proc.stdout.close()  # like `| head -1`
    for _ in range(100):
        poke(marker)()
        if proc.poll() is not None:
            break
        time.sleep(0.1)
    assert proc.wait(timeout=20) == 0
    with proc.stderr:
        assert proc.stderr.read() == b""


def test_second_ctrl_c_stops_at_once():
    cli, _ = started()
    cli.proc.send_signal(signal.SIGINT)
    cli.proc.send_signal(signal.SIGINT)
    sent = time.monotonic()
    code, _, stderr = cli.finish()
    assert time.monotonic() - sent < 3  # detaching only: no drain, no wait for a tick
    assert code == 0
    assert stderr == ""  # no KeyboardInterrupt traceback


def test_an_exception_in_the_consumer_unloads_everything():
    import espia

    with pytest.raises(RuntimeError, match="the consumer failed"), espia.trace("exec"):
        assert loaded_espia_objects(settle=0) != []
        raise RuntimeError("the consumer failed")
