"""Session checks shared by every suite: these tests load real programs into this kernel."""

from __future__ import annotations

import os

import pytest


def pytest_sessionstart(session: pytest.Session) -> None:
    if os.geteuid() != 0:
        raise pytest.UsageError("espia's tests load eBPF programs: run them as root")
