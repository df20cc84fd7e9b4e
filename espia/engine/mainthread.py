"""Waiting in the main thread without losing its signals.

Linux hands a process's SIGINT or SIGTERM to any of its threads that does
not block it (seen: a gRPC thread of the agent, after a busy run), and
Python runs the handler only in the main thread, between two of its
bytecodes.  A main thread waiting without a timeout (an `Event.wait()`)
would never get to it.  So the main thread waits in short steps.
"""

from __future__ import annotations

import threading

# How often a waiting main thread wakes to run a signal's handler.
STEP = 0.25


def wait_for(event: threading.Event) -> None:
    """Until `event` is set, waking every STEP seconds (see the module)."""
    while not event.wait(STEP):
        pass
