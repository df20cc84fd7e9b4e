"""Start-up work in a thread: its result, its error, and undoing what is no longer wanted."""

from __future__ import annotations

import threading

import pytest

from espia.engine.background import Background


def test_result_is_what_the_work_returned_in_its_own_thread():
    ran_in: list[str] = []

    def work() -> int:
        ran_in.append(threading.current_thread().name)
        return 42

    assert Background(work, "espia-test-work").result() == 42
    assert ran_in == ["espia-test-work"]


def test_the_work_error_is_raised_by_result():
    def work() -> int:
        raise ValueError("verifier said no")

    with pytest.raises(ValueError, match="verifier said no"):
        Background(work, "espia-test-work").result()


def test_discard_waits_then_undoes_the_result():
    release = threading.Event()
    undone: list[str] = []

    def work() -> str:
        release.wait(5)
        return "loaded"

    loading = Background(work, "espia-test-work", undone.append)
    release.set()
    loading.discard()
    assert undone == ["loaded"]


def test_discard_drops_the_work_error_and_undoes_nothing():
    undone: list[object] = []

    def work() -> str:
        raise OSError("no memory")

    Background(work, "espia-test-work", undone.append).discard()
    assert undone == []
