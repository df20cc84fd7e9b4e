"""The pipeline object on injected stages: order by priority, lifecycle, errors."""

from __future__ import annotations

import logging

import pytest

from espia.engine.pipeline import Pipeline
from espia.errors import KernelError
from espia.pipeline.operator import KernelConfig, Operator


class Recording(Operator):
    def __init__(self, name: str, priority: int, log: list[str], fail: str = "") -> None:
        self.name = name
        self.priority = priority
        self.log = log
        self.fail = fail

    def contribute(self, kernel: KernelConfig) -> None:
        kernel.filters[self.name] = self.priority

    def start(self) -> None:
        self.log.append(f"start {self.name}")
        if self.fail == "start":
            raise KernelError(f"{self.name} cannot start")

    def process(self, events: list) -> list:
        return [*events, self.name]

    def finish(self) -> list:
        return [f"{self.name}-held"]

    def stop(self) -> None:
        self.log.append(f"stop {self.name}")
        if self.fail == "stop":
            raise KernelError(f"{self.name} cannot stop")


def test_stages_run_by_priority_whatever_order_they_are_given_in():
    log: list[str] = []
    pipeline = Pipeline([Recording("late", 500, log), Recording("early", 200, log)])
    assert pipeline.process([]) == ["early", "late"]
    kernel = KernelConfig()
    pipeline.contribute(kernel)
    assert kernel.filters == {"early": 200, "late": 500}


def test_what_a_stage_holds_at_the_end_goes_through_the_stages_after_it():
    pipeline = Pipeline([Recording("b", 2, []), Recording("a", 1, [])])
    # each stage processes what came before it (here: nothing), then adds what it held
    assert pipeline.finish() == ["a", "a-held", "b", "b-held"]


def test_stop_is_in_reverse_and_every_stage_stops_even_when_one_fails(caplog):
    log: list[str] = []
    stages = [
        Recording("a", 1, log, fail="stop"),
        Recording("b", 2, log),
        Recording("c", 3, log, fail="stop"),
    ]
    pipeline = Pipeline(stages)
    pipeline.start()
    with caplog.at_level(logging.WARNING, "espia"), pytest.raises(KernelError, match="c cannot"):
        pipeline.stop()
    assert log == ["start a", "start b", "start c", "stop c", "stop b", "stop a"]
    assert "stop the a stage: a cannot stop" in caplog.text
    pipeline.stop()  # idempotent: nothing started is left
    assert log[-1] == "stop a" and len(log) == 6


def test_a_stage_that_cannot_start_stops_those_started_before_it():
    log: list[str] = []
    pipeline = Pipeline([Recording("a", 1, log), Recording("b", 2, log, fail="start")])
    with pytest.raises(KernelError, match="b cannot start"):
        pipeline.start()
    assert log == ["start a", "start b", "stop a"]
