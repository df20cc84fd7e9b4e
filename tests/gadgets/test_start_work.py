"""Start-up does each thing once and only what the command needs: a built-in gadget's
description read from its parsed twin (no YAML parser), a user object's BTF checked
once, no module of another command's, the caller's collector left as it was."""

from __future__ import annotations

import gc
import json
import shutil
import subprocess
import sys
from contextlib import ExitStack
from pathlib import Path

import pytest
from support.guide import write_guide_gadget

from espia.cli.main import main
from espia.ebpf import object as bpf_object
from espia.engine.runtime import LocalRuntime
from espia.engine.source import RunOptions
from espia.errors import UsageError
from espia.gadget.description import read_description, twin_of, write_twin
from espia.gadget.local import open_gadget
from espia.gadget.registry import BUILTIN_DIR, builtin
from espia.gadget.spec import DESCRIPTION, GadgetSpec

ROOT = Path(__file__).resolve().parents[2]
# Modules a local `trace` start has no use for (other gadgets' kinds, other doors,
# the YAML parser a built-in gadget's twin spares, error paths).  Not calendar: protobuf's
# well-known types import it when containerd answers.
NOT_FOR_A_TRACE = (
    "yaml",
    "difflib",
    "espia.engine.interval",
    "espia.output.interval",
    "espia.output.histogram",
    "espia.cli.metrics",
    "espia.cli.completion",
    "espia.kubectl",
    "espia.agent",
    "espia.images",
)


@pytest.mark.parametrize("gadget", ["open", "exec"])
def test_a_trace_start_imports_nothing_it_does_not_need(gadget: str):
    probe = (
        "import sys; from espia.cli.main import main; "
        f"code = main(['trace', '{gadget}', '-t', '0.01', '-F', 'comm:nomatch']); "
        f"print(code, sorted(m for m in {NOT_FOR_A_TRACE!r} if m in sys.modules))"
    )
    done = subprocess.run(
        [sys.executable, "-P", "-c", probe],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=ROOT,
        env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"},
    )
    assert done.returncode == 0, done.stderr
    # The run really happened: its header is there, and nothing matched.
    assert done.stdout.splitlines()[0].startswith("RUNTIME.CONTAINERNAME ")
    assert done.stdout.splitlines()[-1] == "0 []"


def test_every_built_in_description_has_its_twin_and_it_gives_the_same_spec(tmp_path: Path):
    described = sorted(
        [*BUILTIN_DIR.glob(f"*/{DESCRIPTION}"), ROOT / "espia/containers/tracker" / DESCRIPTION]
    )
    assert len(described) > 10
    for path in described:
        assert twin_of(path).is_file(), f"{path}: no twin (run make)"
        alone = tmp_path / path.parent.name
        alone.mkdir()
        shutil.copyfile(path, alone / DESCRIPTION)  # the YAML, no twin
        from_twin = GadgetSpec.from_folder(path.parent)
        from_yaml = GadgetSpec.from_folder(alone)
        assert from_twin == GadgetSpec(**{**vars(from_yaml), "folder": path.parent})
        # In the YAML's order too (`==` on dicts does not see it): the fields are the
        # gadget's default columns, in order.
        in_order = json.dumps(read_description(alone / DESCRIPTION))
        assert json.dumps(read_description(path)) == in_order, path


def _described(folder: Path, text: str) -> Path:
    folder.mkdir(exist_ok=True)
    path = folder / DESCRIPTION
    path.write_text(text)
    return path


def test_a_twin_serves_only_the_text_it_was_made_from(tmp_path: Path):
    path = _described(tmp_path / "g", "description: first\n")
    assert write_twin(path)
    assert GadgetSpec.from_folder(path.parent).description == "first"
    # Edited after make: the YAML on disk is what counts.
    path.write_text("description: second\n")
    assert GadgetSpec.from_folder(path.parent).description == "second"
    # A damaged twin is no twin.
    twin_of(path).write_text("{not json")
    assert GadgetSpec.from_folder(path.parent).description == "second"
    twin_of(path).write_text('{"yaml": "description: second\\n", "data": {"description": "x"}}')
    assert GadgetSpec.from_folder(path.parent).description == "x"


def test_yaml_errors_read_the_same_with_a_stale_twin(tmp_path: Path):
    path = _described(tmp_path / "g", "description: fine\n")
    assert write_twin(path)
    path.write_text("description: [unclosed\n")
    with pytest.raises(UsageError, match=r"^read .*gadget.yaml: line 2, column 1: "):
        read_description(path)


def test_data_json_would_change_gets_no_twin(tmp_path: Path):
    path = _described(tmp_path / "g", "description: fine\n")
    assert write_twin(path)
    path.write_text("fields:\n  1: {}\n")  # an int key: JSON would make it "1"
    assert not write_twin(path)
    assert not twin_of(path).exists()  # the stale one is gone too
    assert read_description(path) == {"fields": {1: {}}}


def test_the_twin_maker_says_what_is_wrong_in_one_line(tmp_path: Path):
    path = _described(tmp_path / "g", "a: [\n")
    done = subprocess.run(
        [sys.executable, "-m", "espia.gadget.description", str(path)],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=60,
    )
    assert done.returncode == 1
    assert done.stderr.count("\n") == 1 and "gadget.yaml: line" in done.stderr
    assert not twin_of(path).exists()


def test_a_built_in_spec_is_read_once():
    assert builtin("trace", "exec") is builtin("trace", "exec")


def test_a_user_objects_btf_is_checked_once(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    checked: list[str] = []
    real = bpf_object.check_btf

    def counting(raw: bytes, source: str) -> None:
        checked.append(source)
        real(raw, source)

    monkeypatch.setattr(bpf_object, "check_btf", counting)
    with ExitStack() as stack:
        spec = open_gadget(write_guide_gadget(tmp_path / "mkdir"), stack, tmp_path / "cache")
        run = LocalRuntime().run(spec, RunOptions())
        try:
            assert "mode" in [f.name for f in run.fields]  # the guide's event, read
        finally:
            run.close()
    assert len(checked) == 1, checked


@pytest.mark.parametrize("collecting", [True, False])
def test_main_leaves_the_callers_collector_as_it_was(
    collecting: bool, capsys: pytest.CaptureFixture[str]
):
    was = gc.isenabled()
    try:
        (gc.enable if collecting else gc.disable)()
        assert main(["version"]) == 0
        assert gc.isenabled() is collecting
    finally:
        (gc.enable if was else gc.disable)()
    assert capsys.readouterr().out.startswith("espia v")
