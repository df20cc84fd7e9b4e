"""Typed events carry every field their gadget shows, as attributes; layout stays hidden."""

from __future__ import annotations

import json

import pytest
from support.workloads import EspiaCli, comm_name, run_python, unique

from espia.engine.runtime import GadgetRef, LocalRuntime
from espia.engine.source import RunOptions
from espia.gadget.registry import catalog
from espia.gadget.schema import attribute

GADGETS = [(category, name) for category, names in catalog().items() for name in sorted(names)]


@pytest.mark.parametrize(("category", "name"), GADGETS)
def test_every_field_but_the_container_ones_is_an_attribute(category, name):
    run = LocalRuntime().run(GadgetRef(category, name), RunOptions())
    try:
        cls = run.event_schema.event_class
        own = [f for f in run.fields if "." not in f.name]
        assert own
        missing = [f.name for f in own if not hasattr(cls, attribute(f.name))]
        assert missing == []
        # A length that only says where another member ends is no field.
        assert not [f.name for f in run.fields if f.name.endswith("_size") and f.hidden]
    finally:
        run.close()


def test_companions_are_attributes_with_their_names(recorder, tmp_path):
    missing = tmp_path / "missing"
    events, _, _ = recorder.python("open", f"try: open({str(missing)!r})\nexcept OSError: pass\n")
    mine = [e for e in events if e.path == str(missing)]
    assert [(e.err, e.errname, e.fd) for e in mine] == [(2, "ENOENT", -1)]


def test_open_json_has_no_layout_field(tmp_path):
    """fullpath_size (where FULLPATH ends in the record) is the decoder's, not the user's."""
    comm = comm_name()
    target = tmp_path / unique("json")
    target.write_text("")
    cli = EspiaCli(["trace", "open", "-o", "json", "-F", f"comm:{comm}"])
    body = f"os.close(os.open({str(target)!r}, os.O_RDONLY))\n"
    cli.wait_ready(lambda: run_python(comm, body), str(target))
    cli.proc.send_signal(2)
    code, _, err = cli.finish()
    assert code == 0, err
    event = json.loads(next(line for line in cli.lines if str(target) in line))
    assert event["fullpath"] == str(target) and event["path"] == str(target)
    assert not [key for key in event if key.endswith("_size")]
