"""The pipeline: a gadget's stages in order, with one lifecycle.

The order is the stages' `priority` (espia.pipeline.operator), not where
someone inserted them; for the local door:

    source (decode) -> semantic stages (DNS pairing) -> filter, early terms
      -> enrich (container, pod, node) -> select (-c -n -p -l)
      -> filter, terms on what a stage wrote -> the door (output, API)

Starting is in order, and a stage that fails to start stops those started
before it; stopping is in reverse, every stage is stopped even when one
fails, and the first error is raised once all are done (the others are
logged).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable

from espia.gadget.event import Event
from espia.pipeline.operator import KernelConfig, Operator

log = logging.getLogger("espia")


class Pipeline:
    """Stages sorted by priority (ties keep the order given)."""

    def __init__(self, stages: Iterable[Operator]) -> None:
        self.stages: tuple[Operator, ...] = tuple(sorted(stages, key=lambda s: s.priority))
        self._started: list[Operator] = []

    @property
    def writes(self) -> set[str]:
        """The fields some stage adds or changes."""
        return {name for stage in self.stages for name in stage.writes}

    def contribute(self, kernel: KernelConfig) -> None:
        for stage in self.stages:
            stage.contribute(kernel)

    def start(self) -> None:
        for stage in self.stages:
            try:
                stage.start()
            except BaseException:
                self.stop()
                raise
            self._started.append(stage)

    def process(self, events: list[Event]) -> list[Event]:
        for stage in self.stages:
            events = stage.process(events)
        return events

    def finish(self) -> list[Event]:
        """What the stages still hold at the end, each through the stages after it."""
        events: list[Event] = []
        for stage in self.stages:
            events = stage.process(events) + stage.finish()
        return events

    def stop(self) -> None:
        """Stops the started stages in reverse order; idempotent."""
        errors: list[tuple[Operator, Exception]] = []
        while self._started:
            stage = self._started.pop()
            try:
                stage.stop()
            except Exception as exc:  # every stage gets its stop; the first error is raised
                errors.append((stage, exc))
        for stage, extra in errors[1:]:
            log.warning("stop the %s stage: %s", stage.name, extra)
        if errors:
            raise errors[0][1]
