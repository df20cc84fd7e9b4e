"""The three writers and column selection, on injected events and streams."""

from __future__ import annotations

import io
import json

import pytest
import yaml
from support.schemas import event, schema

from espia.containers.fields import K8S_FIELDS, RUNTIME_FIELDS
from espia.containers.model import Container, K8sMeta, this_node
from espia.errors import UsageError
from espia.output import make_output
from espia.output.base import LossLines
from espia.output.columns import select_columns

POD = Container(
    id="0123456789abcdef",
    name="app",
    runtime="containerd",
    k8s=K8sMeta(namespace="ns", pod="web-1", container="app", pod_labels={"b": "2", "a": "1"}),
)


@pytest.fixture(scope="module")
def made():
    spec_schema = schema(
        extra=(*RUNTIME_FIELDS, *K8S_FIELDS),
        pid="gadget_pid",
        comm="gadget_comm",
        err="gadget_errno",
        flags="gadget_file_flags",
        cut="bool",
        path="gadget_path_components",
    )
    return spec_schema, spec_schema.fields


def events(of):
    return [
        event(
            of, pid=7, comm="cat", err=2, flags=0o101, cut=False, path="/etc/hosts", container=POD
        ),
        event(
            of,
            pid=1234567,
            comm="evil\x1b[2J",
            err=0,
            flags=0,
            cut=True,
            path="/a/very/long/path/indeed/x",
        ),
    ]


def write(mode, fields, evs, columns=("runtime.containerName", "pid", "comm", "path")):
    out, err = io.StringIO(), io.StringIO()
    output = make_output(mode, fields, list(columns), out, err, title="trace made")
    output.begin()
    output.write(evs)
    output.lost(3, 5)
    output.end()
    return out.getvalue(), err.getvalue()


def test_columns_are_aligned_escaped_and_report_losses(made):
    of, fields = made
    text, err = write("columns=+err,+cut", fields, events(of))
    assert text.splitlines() == [
        "RUNTIME.CONTAINERNAME     PID COMM              ERR CUT   PATH",
        "app                         7 cat                 2 false /etc/hosts",
        "                      1234567 evil\\x1b[2J         0 true  /a/very/long/path/indeed/x",
    ]
    assert err == (
        "espia: 3 events lost (the kernel could not hand them over; 5 in all): "
        "filter more, or raise --buffer-size\n"
    )


def test_json_lines_nest_keys_and_render_typed_values(made):
    of, fields = made
    text, _ = write("json", fields, events(of))
    first, second, lost = (json.loads(line) for line in text.splitlines())
    assert first["runtime"] == {
        "containerName": "app",
        "containerId": "0123456789abcdef",
        "containerImageName": "",
        "runtimeName": "containerd",
    }
    assert first["k8s"]["podLabels"] == {"a": "1", "b": "2"} and first["k8s"]["pod"] == "web-1"
    assert (first["pid"], first["err"], first["errname"], first["flags"], first["cut"]) == (
        7,
        2,
        "ENOENT",
        "O_WRONLY|O_CREAT",
        False,
    )
    assert second["comm"] == "evil\x1b[2J" and second["runtime"]["containerName"] == ""
    assert lost == {"lost_events": 3, "lost_total": 5}


def test_json_lines_and_lists_are_exactly_these_bytes(made):
    """The compact text itself, not only what it parses to: spacing, key order, escapes."""
    of, fields = made
    node = json.dumps(this_node())
    first = (
        '{"runtime":{"containerName":"app","containerId":"0123456789abcdef",'
        '"containerImageName":"","runtimeName":"containerd"},'
        f'"k8s":{{"node":{node},"namespace":"ns","pod":"web-1","container":"app",'
        '"podLabels":{"a": "1", "b": "2"}},'
        '"pid":7,"comm":"cat","err":2,"errname":"ENOENT","flags":"O_WRONLY|O_CREAT",'
        '"cut":false,"path":"/etc/hosts"}'
    )
    second = (
        '{"runtime":{"containerName":"","containerId":"","containerImageName":"",'
        f'"runtimeName":""}},"k8s":{{"node":{node},"namespace":"","pod":"","container":"",'
        '"podLabels":{}},"pid":1234567,"comm":"evil\\u001b[2J","err":0,"errname":"",'
        '"flags":"O_RDONLY","cut":true,"path":"/a/very/long/path/indeed/x"}'
    )
    text, _ = write("json", fields, events(of))
    assert text == f'{first}\n{second}\n{{"lost_events": 3, "lost_total": 5}}\n'
    out = io.StringIO()
    listed = make_output("json", fields, [], out, io.StringIO(), lists=True)
    listed.write(events(of))
    listed.write([])
    assert out.getvalue() == f"[{first},{second}]\n[]\n"


def test_jsonpretty_and_yaml_show_the_same_values(made):
    of, fields = made
    compact = [json.loads(line) for line in write("json", fields, events(of))[0].splitlines()]
    pretty_text, _ = write("jsonpretty", fields, events(of))
    decoder, pretty, at = json.JSONDecoder(), [], 0
    while at < len(pretty_text.rstrip()):
        value, at = decoder.raw_decode(pretty_text, at)
        pretty.append(value)
        at += 1
    assert pretty == compact
    assert list(yaml.safe_load_all(write("yaml", fields, events(of))[0])) == compact


def test_select_columns(made):
    _, fields = made
    default = ["runtime.containerName", "pid", "comm", "path"]

    def names(request):
        return [f.name for f in select_columns(fields, default, request)]

    assert names("") == default
    assert names("PATH,pid") == ["path", "pid"]  # listed: that order, any case
    assert names("+err,-runtime.containername") == ["pid", "comm", "err", "path"]
    assert names("+path") == default
    for request, message in (
        ("pid,+err", "either list the columns"),
        ("-pid,-comm,-path,-runtime.containerName", "no column left"),
        ("pdi", "unknown column 'pdi' \\(did you mean 'pid'\\?\\)"),
    ):
        with pytest.raises(UsageError, match=message):
            select_columns(fields, default, request)


def test_loss_lines_are_said_at_most_once_a_second_and_add_up():
    """A flood loses events in most batches: the first loss is said at once, the next
    ones within the second are held and said together, and what is held at the end is
    said then, so the counts add up to the total."""
    now = [100.0]
    err = io.StringIO()
    losses = LossLines(err, clock=lambda: now[0])
    for count, total, at in ((3, 3, 100.0), (2, 5, 100.2), (4, 9, 100.9), (1, 10, 101.0)):
        now[0] = at
        losses.report(count, total)
    losses.report(7, 7, node="node2")  # each node has its own second
    losses.report(5, 15)
    losses.flush()
    said = [line.split(" events lost")[0] for line in err.getvalue().splitlines()]
    totals = [line.rsplit("; ", 1)[1].split(" in all")[0] for line in err.getvalue().splitlines()]
    assert said == ["espia: 3", "espia: 7", "espia: node node2: 7", "espia: 5"]
    assert totals == ["3", "10", "7", "15"]
