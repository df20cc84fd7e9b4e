"""The local runtime: gadgets share one container service; the filter runs where it should."""

from __future__ import annotations

import json
import os
import subprocess
import time
from pathlib import Path

import pytest

import espia
from espia.containers.collection import TRACKER_DIR
from espia.containers.model import Container
from espia.ebpf.object import BpfObject
from espia.engine.containers import ContainerSources
from espia.engine.pipeline import Pipeline
from espia.engine.runtime import GadgetRef, LocalRuntime, local_runtime
from espia.engine.source import RunOptions
from espia.pipeline.enrich import ContainerEnricher
from espia.pipeline.filter import FilterStage, compile_terms, parse, split_terms_by
from espia.pipeline.operator import PRIORITY_EARLY_FILTER
from espia.semantic.dns_pairing import DnsPairing


def prepared(category: str, name: str):
    run = LocalRuntime().run(GadgetRef(category, name), RunOptions())
    run.close()  # the schema outlives the run: nothing is loaded to prepare one
    return run.event_schema


def test_terms_on_fields_a_stage_writes_run_after_it_the_rest_before():
    schema = prepared("trace", "dns")
    stages = [ContainerEnricher({}, "netns", lambda ns: Container("", "", "")), DnsPairing(schema)]
    terms = parse("name:x.test.,pid:3,rcode:UNANSWERED,k8s.pod:web,latency:>5,qr:Q")
    early, late = split_terms_by(terms, schema, Pipeline(stages).writes)
    assert [t.field for t in early] == ["name", "pid", "qr"]
    assert [t.field for t in late] == ["rcode", "k8s.pod", "latency"]


def test_an_event_the_filter_drops_never_waits_for_its_container():
    schema = prepared("trace", "open")
    cls = schema.event_class

    def event(mntns: int, path: str):
        e = object.__new__(cls)
        for name in cls.__slots__:  # the members (a length member is none: layout)
            setattr(e, name, 0 if name != "path" else "")
        e.mntns, e.path = mntns, path
        return e

    host = Container("", "", "")
    enrich = ContainerEnricher({1: host}, "mntns", lambda ns: host)
    early = FilterStage(compile_terms(tuple(parse("path:/wanted")), schema), PRIORITY_EARLY_FILTER)
    pipeline = Pipeline([enrich, early])
    # A namespace nobody knows (a container starting) whose open -F drops, then a host open.
    out = pipeline.process([event(999, "/unwanted"), event(1, "/wanted")])
    assert [e.path for e in out] == ["/wanted"] and out[0].container is host


def _tracker_links_held() -> int:
    """How many links to the tracker's programs this process holds (from its fdinfo)."""
    with BpfObject.open(TRACKER_DIR / "program.bpf.o") as obj:
        names = {p.name[:15] for p in obj.programs}
    ids = []
    for fd in os.listdir("/proc/self/fdinfo"):
        try:
            text = Path(f"/proc/self/fdinfo/{fd}").read_text()
        except OSError:
            continue
        info = dict(line.split(":\t", 1) for line in text.splitlines() if ":\t" in line)
        if "link_type" in info and "prog_id" in info:
            ids.append(info["prog_id"])
    count = 0
    for prog_id in ids:
        shown = subprocess.run(
            ["bpftool", "-j", "prog", "show", "id", prog_id], capture_output=True, text=True
        )
        if shown.returncode == 0 and json.loads(shown.stdout).get("name") in names:
            count += 1
    return count


def test_gadgets_running_at_once_share_one_collection_and_one_tracker():
    service = local_runtime(ContainerSources()).containers
    assert _tracker_links_held() == 0
    with espia.trace("open", filter="comm:nothing-here") as one:
        collection = service._collection
        assert _tracker_links_held() == 3  # unshare, exec, cgroup_mkdir
        with espia.trace("exec", filter="comm:nothing-here") as two:
            assert service._users == 2 and service._collection is collection
            assert _tracker_links_held() == 3
            two.stop()
            assert list(two) == []
        assert service._users == 1 and service._collection is collection
        one.stop()
        list(one)
    assert service._users == 0 and service._collection is None
    assert _tracker_links_held() == 0


def test_host_events_carry_the_node_too():
    marker = f"/tmp/espia-node-{os.getpid()}"
    with espia.trace("open", filter=[f"path:{marker}", "err:2"]) as trace:
        time.sleep(0.05)
        with pytest.raises(FileNotFoundError):
            Path(marker).read_bytes()
        trace.stop()
        (event,) = list(trace)
    assert not event.container and event.container.k8s.node == os.uname().nodename
    assert event.to_dict()["k8s"]["node"] == os.uname().nodename
