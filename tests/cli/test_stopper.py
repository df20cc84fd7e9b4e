"""Ctrl-C's graceful stop cannot deadlock on a lock the interrupted thread holds.

Python runs a signal handler in the main thread between two bytecodes; when
they are inside `threading.Event.wait()`, the thread holds the event's lock,
and a stop that set the event from the handler waited for it forever (a run
in a few hundred did not end after Ctrl-C).  Each script runs in a process
of its own: the old deadlock would hang it, and the timeout fails the test.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap


def _run(script: str) -> str:
    done = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(script)],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert done.returncode == 0, done.stderr
    assert done.stderr == ""
    return done.stdout


def test_a_signal_while_the_main_thread_holds_the_stops_lock_still_stops() -> None:
    out = _run(
        """
        import os, signal, threading
        from espia.cli.main import _Stopper

        held = threading.Lock()
        stopped = threading.Event()

        def stop():
            with held:  # as Event.set() takes the lock Event.wait() holds
                stopped.set()

        stopper = _Stopper(stop)
        with held:
            os.kill(os.getpid(), signal.SIGINT)
            for _ in range(100_000):  # the handler runs in here, the lock held
                pass
            print("handler returned", flush=True)
        print("stopped" if stopped.wait(10) else "not stopped", flush=True)
        stopper.restore()
        """
    )
    assert out == "handler returned\nstopped\n"


def test_a_second_signal_interrupts_and_restore_leaves_no_thread_or_descriptor() -> None:
    out = _run(
        """
        import os, signal, threading, time
        from espia.cli.main import _Stopper

        fds = len(os.listdir("/proc/self/fd"))
        threads = threading.active_count()
        calls = []
        stopper = _Stopper(lambda: calls.append("stop"))
        os.kill(os.getpid(), signal.SIGTERM)
        deadline = time.monotonic() + 10
        while not calls and time.monotonic() < deadline:
            time.sleep(0.01)
        try:
            os.kill(os.getpid(), signal.SIGINT)
            time.sleep(10)
            print("not interrupted")
        except KeyboardInterrupt:
            print("interrupted")
        stopper.restore()
        print(calls)
        print(len(os.listdir("/proc/self/fd")) - fds, threading.active_count() - threads)
        # Without a signal, restore() ends the stopper's thread too.
        _Stopper(lambda: calls.append("unwanted")).restore()
        print(calls, len(os.listdir("/proc/self/fd")) - fds, threading.active_count() - threads)
        """
    )
    assert out == "interrupted\n['stop']\n0 0\n['stop'] 0 0\n"
