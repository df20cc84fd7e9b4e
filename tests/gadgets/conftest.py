"""Running a gadget around a workload, through the Python API."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

import espia


def record(gadget: str, workload: Callable[[], Any], **options: Any) -> list[espia.Event]:
    """The events `gadget` sees while `workload` runs (attached before, drained after)."""
    with espia.trace(gadget, **options) as trace:
        workload()
        trace.stop()
        return list(trace)


@pytest.fixture
def recorder() -> Callable[..., list[espia.Event]]:
    return record
