"""Session checks shared by every suite: these tests load real programs into this kernel."""

from __future__ import annotations

import os

import pytest
from support.workloads import EspiaCli


def pytest_sessionstart(session: pytest.Session) -> None:
    if os.geteuid() != 0:
        raise pytest.UsageError("espia's tests load eBPF programs: run them as root")


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo) -> object:
    """A skipped test would be reported as not failing: here it fails, with its reason.

    The README's set-up installs everything the suite needs, so a skip can
    only mean a broken set-up, which must not pass unnoticed.
    """
    outcome = yield
    report = outcome.get_result()
    if report.skipped and not hasattr(report, "wasxfail"):
        report.outcome = "failed"
        reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else report.longrepr
        report.longrepr = f"skipped, which this suite does not allow: {reason}"


@pytest.fixture(autouse=True)
def _no_gadget_outlives_its_test() -> object:
    yield
    EspiaCli.kill_all()
