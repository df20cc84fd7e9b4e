"""The wire schema: a value with no code in it, the same after a JSON round trip."""

from __future__ import annotations

import json

import pytest

from espia.agent.wire import RemoteSchema, schema_message
from espia.cli.columns import default_columns
from espia.engine.runtime import GadgetRef, LocalRuntime
from espia.engine.source import RunOptions
from espia.engine.wire import WireField, WireSchema
from espia.errors import UsageError
from espia.gadget.spec import GadgetSpec


def schema_of(category: str, name: str) -> WireSchema:
    run = LocalRuntime().run(GadgetRef(category, name), RunOptions())
    try:
        return run.schema
    finally:
        run.close()


@pytest.mark.parametrize(
    "gadget", [("trace", "open"), ("trace", "dns"), ("snapshot", "socket"), ("list", "containers")]
)
def test_round_trip_through_json(gadget):
    schema = schema_of(*gadget)
    data = json.loads(json.dumps(schema.to_dict()))
    assert WireSchema.from_dict(data) == schema


def test_fields_say_how_they_are_reached_and_what_they_are():
    schema = schema_of("trace", "open")
    assert (schema.gadget, schema.join, schema.lists) == ("trace open", "mntns", False)
    assert schema.field("pid") == WireField(
        "pid", "int", "Process ID", width=7, right=True, type="gadget_pid", path=("pid",)
    )
    assert schema.field("k8s.node").path == ("container", "k8s", "node")
    assert schema.field("k8s.node").container and not schema.field("path").container
    err, errname = schema.field("err"), schema.field("errname")
    assert (err.path, err.type, err.rendered) == (("err",), "gadget_errno", False)
    assert (errname.path, errname.type, errname.rendered) == (("err",), "gadget_errno", True)
    dns = schema_of("trace", "dns")
    assert dns.join == "netns" and dns.field("latency").path == ("dns", "latency")


def test_default_columns_come_from_the_schema_and_flags_only():
    schema = schema_of("trace", "dns")
    assert default_columns(schema, pods=False)[:2] == ["runtime.containerName", "pid"]
    assert default_columns(schema, pods=True)[:3] == ["k8s.namespace", "k8s.pod", "pid"]
    listing = schema_of("list", "containers")
    assert default_columns(listing, pods=False)[:3] == [
        "runtime.runtimeName",
        "runtime.containerName",
        "runtime.containerId",
    ]


@pytest.mark.parametrize(
    "data",
    [
        {},
        {"version": 1, "gadget": "x"},
        {
            "version": 1,
            "gadget": "x",
            "join": None,
            "lists": False,
            "columns": [],
            "fields": [{"name": "x", "kind": "int", "code": "1"}],
        },
    ],
)
def test_malformed_data_is_a_usage_error(data):
    with pytest.raises(UsageError, match="event schema"):
        WireSchema.from_dict(data)


def test_a_heading_is_what_the_column_shows_on_every_door():
    """top block-io's rw and time are headed R/W and TIME(us), as biotop's are; the names
    stay what flags and JSON take, and a client of the agent gets the heading too."""
    schema = schema_of("top", "block-io")
    assert WireSchema.from_dict(json.loads(json.dumps(schema.to_dict()))) == schema
    assert (schema.field("rw").heading, schema.field("time").heading) == ("R/W", "TIME(us)")
    remote = RemoteSchema(schema_message(schema, "node-1", "1"))
    headers = {f.name: f.header for f in remote.fields}
    assert (headers["rw"], headers["time"], headers["bytes"]) == ("R/W", "TIME(us)", "BYTES")


@pytest.mark.parametrize("heading", ["", "x" * 33, "A\x1b[2J"])
def test_a_heading_must_be_short_and_printable(tmp_path, heading):
    (tmp_path / "gadget.yaml").write_text(json.dumps({"fields": {"x": {"heading": heading}}}))
    with pytest.raises(UsageError, match="field 'x': heading must be 1 to 32 printable"):
        GadgetSpec.from_folder(tmp_path)
