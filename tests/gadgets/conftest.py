"""Running a gadget around a workload, through the Python API."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from support.netns import Lab
from support.workloads import comm_name, run_python

import espia


class Recorder:
    """Records what a gadget sees while a workload runs (attached before, drained after)."""

    def __call__(
        self, gadget: str, workload: Callable[[], Any], **options: Any
    ) -> list[espia.Event]:
        with espia.trace(gadget, **options) as trace:
            workload()
            trace.stop()
            return list(trace)

    def python(self, gadget: str, body: str, **options: Any) -> tuple[list[espia.Event], str, str]:
        """Runs `body` in a Python child with a fresh comm, filtered on it in the kernel.

        Returns (events, the child's stdout, its comm).
        """
        comm = comm_name()
        out: list[str] = []
        events = self(
            gadget,
            lambda: out.append(run_python(comm, body, check=False).stdout),
            filter=f"comm:{comm}",
            **options,
        )
        return events, out[0], comm


@pytest.fixture
def recorder() -> Recorder:
    return Recorder()


@pytest.fixture
def lab() -> Iterator[Lab]:
    """Network namespaces, links and servers for one test, all removed after it."""
    with Lab() as made:
        yield made
