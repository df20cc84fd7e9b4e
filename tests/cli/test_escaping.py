"""Traced strings are hostile: every output shows them unambiguously, and JSON losslessly."""

from __future__ import annotations

import json
import os

import pytest
import yaml
from support.workloads import comm_name

from cli.test_output import run_with


def opens_bytes(*paths: bytes) -> str:
    """A child body opening each path given as bytes (not all of them are UTF-8)."""
    return "".join(
        f"try:\n    os.open({p!r}, os.O_RDONLY)\nexcept OSError:\n    pass\n" for p in paths
    )


def names(tmp_path) -> dict[str, bytes]:
    base = os.fsencode(tmp_path)
    return {
        "esc": base + b"/a\x1bb",  # a real ESC byte
        "esc-typed": base + b"/a\\x1bb",  # the four characters \x1b
        "not-utf8": base + b"/c\xffd",  # a byte that is not UTF-8
        "not-utf8-typed": base + b"/c\\xffd",  # the four characters \xff
        "utf8": base + "/é".encode(),
    }


def test_columns_tell_an_escape_from_its_text(tmp_path):
    paths = names(tmp_path)
    code, lines, err = run_with(
        ["-o", "columns=comm,path"], opens_bytes(*paths.values()), comm_name()
    )
    assert code == 0, err
    base = str(tmp_path)
    shown = {line.split()[-1] for line in lines if base in line}
    assert shown == {
        base + "/a\\x1bb",
        base + "/a\\\\x1bb",
        base + "/c\\xffd",
        base + "/c\\\\xffd",
        base + "/é",
    }
    assert not any("\x1b" in line for line in lines)


@pytest.mark.parametrize("mode", ["json", "jsonpretty", "yaml"])
def test_json_and_yaml_give_back_the_exact_bytes(tmp_path, mode):
    paths = names(tmp_path)
    code, lines, err = run_with(["-o", mode], opens_bytes(*paths.values()), comm_name())
    assert code == 0, err
    text = "\n".join(lines)
    if mode == "json":
        events = [json.loads(line) for line in lines if line.startswith("{")]
    elif mode == "jsonpretty":
        decoder = json.JSONDecoder()
        events, at = [], 0
        while at < len(text.rstrip()):
            event, at = decoder.raw_decode(text, at)
            events.append(event)
            at += len(text[at:]) - len(text[at:].lstrip())
    else:
        events = list(yaml.safe_load_all(text))
    seen = {
        e["path"].encode("utf-8", "surrogateescape")
        for e in events
        if "path" in e and e["path"].startswith(str(tmp_path))
    }
    assert seen == set(paths.values())
