"""What a user sees: columns, column choices, JSON, YAML, escaping, the seed's demo filter."""

from __future__ import annotations

import json
import os

import yaml
from support.workloads import EspiaCli, comm_name, run_python, unique


def run_with(args: list[str], body: str, comm: str) -> tuple[int, list[str], str]:
    """espia trace open with `args`, while a Python child named `comm` runs `body`."""
    marker = unique("ready")
    cli = EspiaCli(["trace", "open", "-F", f"comm:{comm}", *args])

    if "-o" in args and not args[args.index("-o") + 1].startswith("columns"):
        # No header in this mode: open a marker until espia shows it.
        cli.wait_ready(lambda: run_python(comm, opens(f"/tmp/{marker}")), marker)
    else:
        cli.wait_for(lambda line: line.split()[0] in ("RUNTIME.CONTAINERNAME", "PATH", "COMM"))
    run_python(comm, body)
    cli.proc.send_signal(2)
    return cli.finish()


def opens(*paths: str) -> str:
    return "".join(
        f"try:\n    os.open({p!r}, os.O_RDONLY)\nexcept OSError:\n    pass\n" for p in paths
    )


def test_default_columns_and_values(tmp_path):
    comm = comm_name()
    target = tmp_path / "columns"
    code, lines, err = run_with([], opens(str(target)), comm)
    assert code == 0, err
    assert lines[0].split() == ["RUNTIME.CONTAINERNAME", "PID", "COMM", "FD", "ERR", "PATH"]
    row = [line for line in lines if line.endswith(str(target))]
    assert len(row) == 1
    _pid, shown_comm, fd, err_no, path = row[0].split()
    assert (shown_comm, fd, err_no, path) == (comm, "-1", "2", str(target))
    # Fixed widths: the header lines up with the values.
    assert lines[0].index("PATH") == row[0].index(str(target))


def test_chosen_and_changed_columns(tmp_path):
    comm = comm_name()
    target = str(tmp_path / "chosen")
    code, lines, _ = run_with(["-o", "columns=PATH,errname,Comm"], opens(target), comm)
    assert code == 0
    assert lines[0].split() == ["PATH", "ERRNAME", "COMM"]
    assert f"{target} ENOENT {comm}" in [" ".join(line.split()) for line in lines]

    changed = "columns=+flags,-runtime.containername,-pid"
    code, lines, _ = run_with(["-o", changed], opens(target), comm)
    assert code == 0
    # An added column goes before PATH, whose values are wider than any column.
    assert lines[0].split() == ["COMM", "FD", "ERR", "FLAGS", "PATH"]
    rows = [" ".join(line.split()) for line in lines]
    assert f"{comm} -1 2 O_RDONLY|O_CLOEXEC {target}" in rows
    assert all(line.index(" /") == lines[0].index("PATH") - 1 for line in lines[1:])


def test_json_lines_parse_back_with_nested_keys(tmp_path):
    comm = comm_name()
    target = str(tmp_path / "json")
    code, lines, _ = run_with(["-o", "json"], opens(target), comm)
    assert code == 0
    events = [json.loads(line) for line in lines]
    mine = [e for e in events if e["path"] == target]
    assert len(mine) == 1
    event = mine[0]
    assert event["comm"] == comm and event["err"] == 2 and event["errname"] == "ENOENT"
    assert event["fd"] == -1 and event["flags"] == "O_RDONLY|O_CLOEXEC"
    assert event["k8s"] == {
        "node": os.uname().nodename,
        "namespace": "",
        "pod": "",
        "container": "",
        "podLabels": {},
    }
    assert event["runtime"]["containerName"] == ""
    assert event["timestamp"].endswith("Z") and event["mntns"] > 0


def test_jsonpretty_and_yaml_parse_back(tmp_path):
    comm = comm_name()
    target = str(tmp_path / "pretty")
    code, lines, _ = run_with(["-o", "jsonpretty"], opens(target), comm)
    assert code == 0
    text = "\n".join(lines)
    decoder, objects, index = json.JSONDecoder(), [], 0
    while index < len(text):
        obj, index = decoder.raw_decode(text, index)
        objects.append(obj)
        while index < len(text) and text[index].isspace():
            index += 1
    assert [o["path"] for o in objects if o["path"] == target] == [target]
    assert lines[0] == "{" and lines[1].startswith('  "')

    code, lines, _ = run_with(["-o", "yaml"], opens(target), comm)
    assert code == 0
    documents = [d for d in yaml.safe_load_all("\n".join(lines)) if d["path"] == target]
    assert len(documents) == 1
    assert documents[0]["errname"] == "ENOENT" and documents[0]["k8s"]["pod"] == ""


def test_control_bytes_in_traced_strings_are_escaped(tmp_path):
    comm = comm_name()
    evil = str(tmp_path / "evil\x1b[2J\x07\nname")
    code, lines, _ = run_with([], opens(evil), comm)
    assert code == 0
    text = "\n".join(lines)
    assert "\x1b" not in text and "\x07" not in text
    assert str(tmp_path / "evil\\x1b[2J\\x07\\nname") in text


def test_seed_demo_filter_verbatim(tmp_path):
    """--filter path:/etc/resolv.conf,flags:'~(O_WRONLY|O_RDWR)' picks the write-opens only."""
    comm = comm_name()
    body = """
import os
os.close(os.open("/etc/resolv.conf", os.O_RDONLY))
os.close(os.open("/etc/resolv.conf", os.O_WRONLY | os.O_APPEND))
os.close(os.open("/etc/hostname", os.O_RDWR | os.O_APPEND))
"""
    code, lines, _ = run_with(
        ["--filter", "path:/etc/resolv.conf,flags:~(O_WRONLY|O_RDWR)", "-o", "columns=+flags"],
        body,
        comm,
    )
    assert code == 0
    assert lines[0].split() == [
        "RUNTIME.CONTAINERNAME",
        "PID",
        "COMM",
        "FD",
        "ERR",
        "FLAGS",
        "PATH",
    ]
    rows = [" ".join(line.split()[1:]) for line in lines[1:]]
    assert rows == [f"{comm} 3 0 O_WRONLY|O_APPEND|O_CLOEXEC /etc/resolv.conf"]


def test_espia_leaves_its_own_work_out():
    """Attaching opens tracefs files, and the container collection reads /proc: not shown."""
    cli = EspiaCli(["trace", "open", "-o", "json", "-t", "1.5"])
    code, _, err = cli.finish()
    assert code == 0, err
    assert [e for e in cli.json_events() if e.get("pid") == cli.proc.pid] == []


def test_spelled_out_operators_after_the_colon(tmp_path):
    """The README's `==`, `!=`, `=~` and `!~` forms, written after the colon as well."""
    comm = comm_name()
    missing, present = tmp_path / "missing-x1", tmp_path / "present-x2"
    present.write_text("")
    body = opens(str(missing), str(present))
    for terms, shown in [
        ("err:==2", [missing]),
        ("err:!=2", [present]),
        (f"path:=~{tmp_path}/m", [missing]),
        (f"path:!~{tmp_path}/m", [present]),
    ]:
        code, lines, err = run_with(["-F", terms, "-o", "columns=path"], body, comm)
        assert code == 0, err
        assert lines[1:] == [str(p) for p in shown], terms
