"""The filter stage with injected events: every operator, escapes, pushdown, errors."""

from __future__ import annotations

import pytest

from espia.containers.model import NO_CONTAINER, Container, K8sMeta
from espia.engine.runtime import GadgetRef, LocalRuntime
from espia.engine.source import RunOptions
from espia.errors import UsageError
from espia.pipeline.filter import compile_filter, split_terms


@pytest.fixture(scope="module")
def schema():
    run = LocalRuntime().run(GadgetRef("trace", "open"), RunOptions())
    yield run.event_schema
    run.close()


def event(schema, **values):
    e = object.__new__(schema.event_class)
    defaults = dict(
        timestamp=1,
        mntns=4026531840,
        pid=10,
        tid=10,
        uid=0,
        gid=0,
        comm="cat",
        fd=3,
        err=0,
        flags=0,
        mode=0,
        path="/etc/hosts",
    )
    for name, value in {**defaults, **values}.items():
        setattr(e, name, value)
    e.container = values.get("container", NO_CONTAINER)
    return e


def kept(schema, text, events):
    return compile_filter(text, schema).apply(events)


def test_equality_negation_and_numbers(schema):
    a, b, c = (
        event(schema, pid=1, comm="cat"),
        event(schema, pid=2, comm="vi"),
        event(schema, pid=30),
    )
    assert kept(schema, "pid:2", [a, b, c]) == [b]
    assert kept(schema, "pid==2", [a, b, c]) == [b]
    assert kept(schema, "pid:!2", [a, b, c]) == [a, c]
    assert kept(schema, "pid!=2", [a, b, c]) == [a, c]
    assert kept(schema, "pid:>1", [a, b, c]) == [b, c]
    assert kept(schema, "pid>=2", [a, b, c]) == [b, c]
    assert kept(schema, "pid:<2", [a, b, c]) == [a]
    assert kept(schema, "pid<=2", [a, b, c]) == [a, b]
    assert kept(schema, "pid:0x1e", [a, b, c]) == [c]
    assert kept(schema, "comm:vi", [a, b, c]) == [b]


def test_regex_on_text_and_on_rendered_values(schema):
    ro = event(schema, flags=0o2000000)
    wr = event(schema, flags=0o1101, path="/etc/resolv.conf")
    rw = event(schema, flags=0o2, path="/etc/resolv.conf")
    assert kept(schema, "flags:~(O_WRONLY|O_RDWR)", [ro, wr, rw]) == [wr, rw]
    assert kept(schema, "flags=~O_TRUNC", [ro, wr, rw]) == [wr]
    assert kept(schema, "flags:!~O_CLOEXEC", [ro, wr, rw]) == [wr, rw]
    assert kept(schema, "flags!~O_CLOEXEC", [ro, wr, rw]) == [wr, rw]
    assert kept(schema, "flags:O_RDWR", [ro, wr, rw]) == [rw]
    assert kept(schema, "path:~^/etc/r", [ro, wr, rw]) == [wr, rw]
    # The seed's demo, verbatim after the shell removed the quotes.
    assert kept(schema, "path:/etc/resolv.conf,flags:~(O_WRONLY|O_RDWR)", [ro, wr, rw]) == [wr, rw]


def test_errno_by_number_or_name(schema):
    ok, missing = event(schema), event(schema, err=2, fd=-1)
    assert kept(schema, "err:2", [ok, missing]) == [missing]
    assert kept(schema, "errname:ENOENT", [ok, missing]) == [missing]
    assert kept(schema, "err:!0", [ok, missing]) == [missing]
    assert kept(schema, "fd:<0", [ok, missing]) == [missing]


def test_container_fields_and_case_insensitive_names(schema):
    pod = Container(
        id="abc",
        name="app",
        runtime="containerd",
        k8s=K8sMeta(
            namespace="my-ns",
            pod="my-app",
            container="app",
            pod_labels={"app": "web", "tier": "front"},
        ),
    )
    inside, outside = event(schema, container=pod), event(schema)
    assert kept(schema, "k8s.namespace:my-ns", [inside, outside]) == [inside]
    assert kept(schema, "K8S.POD:~^my-", [inside, outside]) == [inside]
    assert kept(schema, "runtime.containername:", [inside, outside]) == [outside]
    assert kept(schema, "k8s.podlabels:~tier=front", [inside, outside]) == [inside]


def test_commas_can_be_escaped():
    assert split_terms(r"path:~a\,b,comm:cat") == ["path:~a,b", "comm:cat"]
    assert split_terms("comm:cat,, ,pid:1") == ["comm:cat", "pid:1"]


def test_all_terms_must_hold(schema):
    a = event(schema, pid=1, comm="cat")
    b = event(schema, pid=1, comm="vi")
    assert kept(schema, "pid:1,comm:cat", [a, b]) == [a]
    assert kept(schema, "pid:1,comm:cat,comm:vi", [a, b]) == []


def test_task_equalities_go_to_the_kernel(schema):
    pushed = compile_filter("pid:42,comm:cat,uid:1000,path:/x,tid:>3,gid:!0", schema).kernel
    assert pushed == {"pid": 42, "comm": "cat", "uid": 1000}
    with pytest.raises(UsageError, match="a comm holds at most 15 bytes"):
        compile_filter("comm:averyveryverylongname", schema)
    assert compile_filter("comm:averyveryveryl", schema).kernel == {"comm": "averyveryveryl"}
    assert compile_filter("comm:~cat", schema).kernel == {}
    assert compile_filter(None, schema).predicate is None


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("nope:1", "has no field 'nope'"),
        ("pdi:1", "did you mean 'pid'"),
        ("path:~[", "bad regex"),
        ("pid:>x", "'x' is not a number"),
        ("comm:<3", "comm is text"),
        ("pid", "unknown operator"),
        (":x", "expected field:value"),
    ],
)
def test_bad_filters_say_what_is_wrong(schema, text, message):
    with pytest.raises(UsageError, match=message.replace("[", r"\[")):
        compile_filter(text, schema)
