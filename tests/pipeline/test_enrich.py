"""The enrichment stage on injected events, with an injected clock: no kernel, no sleep."""

from __future__ import annotations

from dataclasses import dataclass

from espia.containers.model import NO_CONTAINER, Container
from espia.pipeline.enrich import ContainerEnricher


@dataclass
class Ev:
    """An event as enrichment sees one: a namespace, a time, and the container it gets."""

    mntns: int
    ts: int = 0
    container: Container = NO_CONTAINER


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


WEB = Container(id="a" * 64, name="web", runtime="containerd", mntns=11)
DB = Container(id="b" * 64, name="db", runtime="docker", mntns=22)


def enricher(index: dict[int, Container], clock: Clock, **kw) -> ContainerEnricher:
    settled: list[int] = []

    def settle(ns: int) -> Container:
        settled.append(ns)
        return NO_CONTAINER

    stage = ContainerEnricher(
        index, "mntns", settle, hold=1.0, clock=clock, sleep=clock.sleep, **kw
    )
    stage.settled = settled  # type: ignore[attr-defined]
    return stage


def test_known_namespaces_get_their_container_at_once():
    clock = Clock()
    stage = enricher({11: WEB, 22: DB, 1: NO_CONTAINER}, clock)
    events = [Ev(11), Ev(22), Ev(1)]
    out = stage.process(events)
    assert [e.container for e in out] == [WEB, DB, NO_CONTAINER]


def test_an_unknown_namespace_holds_its_events_and_those_behind_in_order():
    clock = Clock()
    index = {11: WEB}
    stage = enricher(index, clock)
    first, new, behind = Ev(11), Ev(33), Ev(11)
    assert stage.process([first, new, behind]) == [first]
    clock.now += 0.5
    assert stage.process([]) == []  # still within the hold, still unknown
    index[33] = DB  # the runtime described it
    assert stage.process([]) == [new, behind]
    assert (new.container, behind.container) == (DB, WEB)
    assert stage.settled == []


def test_past_the_hold_the_best_answer_is_taken_and_order_kept():
    clock = Clock()
    stage = enricher({11: WEB}, clock)
    held, later = Ev(44), Ev(11)
    assert stage.process([held]) == []
    clock.now += 0.99
    assert stage.process([later]) == []  # behind a held event
    clock.now += 0.02
    assert stage.process([]) == [held, later]
    assert stage.settled == [44] and later.container is WEB


def test_catch_up_runs_before_each_batch_and_can_name_the_namespace():
    clock = Clock()
    index: dict[int, Container] = {}
    stage = enricher(index, clock, catch_up=lambda: index.setdefault(55, WEB))
    (event,) = stage.process([Ev(55)])
    assert event.container is WEB


def test_finish_waits_out_the_holds_on_the_injected_clock():
    clock = Clock()
    stage = enricher({}, clock)
    assert stage.process([Ev(66), Ev(77)]) == []
    start = clock.now
    out = stage.finish()
    assert [e.mntns for e in out] == [66, 77] and stage.settled == [66, 77]
    assert 1.0 <= clock.now - start < 1.1  # slept in 20 ms steps, on the fake clock only


def test_a_recycled_number_gives_older_events_to_the_previous_owner():
    clock = Clock()
    recycled = {11: (1_000, DB)}  # number 11 changed hands at boot time 1000, from DB
    stage = enricher({11: WEB}, clock, recycled=recycled, timestamp_attribute="ts")
    old, new = Ev(11, ts=999), Ev(11, ts=1_001)
    stage.process([old, new])
    assert (old.container, new.container) == (DB, WEB)
