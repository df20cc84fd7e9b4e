"""The profile outputs on known samples: counts, order, escaping, the empty profile."""

from __future__ import annotations

import io
import json
import xml.etree.ElementTree as ET
from types import SimpleNamespace

from espia.containers.model import NO_CONTAINER, Container, K8sMeta
from espia.output.flamegraph import render
from espia.output.stacks import StacksOutput

POD = Container(
    id="c1", name="app", runtime="containerd", k8s=K8sMeta(namespace="shop", pod="web-0")
)


def sample(pid, comm, user, kernel="", container=NO_CONTAINER):
    return SimpleNamespace(
        pid=pid, comm=comm, user_stack=user, kernel_stack=kernel, container=container
    )


SAMPLES = (
    [sample(7, "hot", "main;spin")] * 5
    + [sample(7, "hot", "main;read", "ksys_read;vfs_read")] * 3
    + [sample(9, "x;y", "main;evil_[k]", container=POD)] * 2
)


def written(mode, events=SAMPLES, **options):
    out, err = io.StringIO(), io.StringIO()
    output = StacksOutput(mode, out, err, **options)
    output.begin()
    output.write(list(events))
    output.end()
    return out.getvalue()


def test_table_busiest_first_kernel_above_user_and_the_rest_counted():
    assert written("columns", max_rows=2).splitlines() == [
        " SAMPLES  SHARE     PID COMM             CONTAINER",
        "       5  50.0%       7 hot              ",
        "    spin",
        "    main",
        "       3  30.0%       7 hot              ",
        "    vfs_read",
        "    ksys_read",
        "    --",
        "    read",
        "    main",
        "10 samples in 3 stacks; 1 more stacks (2 samples) not shown (--max-rows)",
    ]


def test_folded_root_first_with_owner_and_marks():
    assert written("folded").splitlines() == [
        "hot;main;read;ksys_read_[k];vfs_read_[k] 3",
        "hot;main;spin 5",
        # The comm's ; is escaped; a user frame ending in _[k] cannot pass for a kernel one.
        "shop/web-0;app;x\\x3by;main;evil_\\x5bk] 2",
    ]


def test_json_is_one_list_with_frames_as_lists():
    stacks = json.loads(written("json"))
    assert [(s["samples"], s["pid"], s["user_stack"], s["kernel_stack"]) for s in stacks] == [
        (5, 7, ["main", "spin"], []),
        (3, 7, ["main", "read"], ["ksys_read", "vfs_read"]),
        (2, 9, ["main", "evil_[k]"], []),
    ]
    assert (stacks[2]["container"], stacks[2]["pod"], stacks[2]["share"]) == (
        "app",
        "shop/web-0",
        0.2,
    )


def test_an_empty_profile_says_so():
    assert written("columns", events=[]).splitlines()[-1] == "0 samples in 0 stacks"
    assert written("json", events=[]) == "[]\n"
    assert written("folded", events=[]) == ""
    ET.fromstring(render({}))  # an empty graph is still a document


def test_svg_escapes_names_and_sizes_frames_by_share():
    svg = render({'a;<script>alert("x")</script>&;b': 3, "a;c": 1}, title="t<")
    root = ET.fromstring(svg)
    ns = "{http://www.w3.org/2000/svg}"
    frames = {g.get("data-name"): g for g in root.iter(f"{ns}g") if g.get("class") == "f"}
    assert set(frames) == {"all", "a", '<script>alert("x")</script>&', "b", "c"}
    (script,) = [s.text for s in root.iter(f"{ns}script")]
    assert "alert" not in script  # no name reaches the code
    width = {name: float(g.find(f"{ns}rect").get("width")) for name, g in frames.items()}
    assert width["all"] == width["a"] == 1180.0
    assert width["b"] == 3 * width["c"]
    assert "t&lt;: 4 samples" in svg
