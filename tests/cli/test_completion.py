"""Shell completion and the man page, generated from the parser, work in their tools."""

from __future__ import annotations

import re
import shlex
import subprocess

import pytest
from support.workloads import espia, require

from espia.cli.columns import default_columns
from espia.cli.options import run_options
from espia.cli.parser import build_parser
from espia.engine.runtime import GadgetRef, LocalRuntime
from espia.gadget.registry import BUILTIN_DIR, catalog
from espia.gadget.spec import GadgetSpec
from espia.output import make_output


def bash_complete(line: str) -> list[str]:
    """COMPREPLY for `line` (the cursor at its end) with `espia completion bash` sourced."""
    words = shlex.split(line) + ([""] if line.endswith(" ") else [])
    script = espia("completion", "bash").stdout
    program = (
        f"{script}\nCOMP_WORDS=({' '.join(shlex.quote(w) for w in words)})\n"
        f"COMP_CWORD={len(words) - 1}\n_espia\nprintf '%s\\n' \"${{COMPREPLY[@]}}\"\n"
    )
    done = subprocess.run(["bash", "-c", program], capture_output=True, text=True, check=True)
    return done.stdout.split()


@pytest.mark.parametrize(
    ("line", "offered"),
    [
        ("espia trace d", ["dns"]),
        ("espia tr", ["trace"]),
        ("espia snapshot ", ["process", "socket"]),
        ("espia trace open --time", ["--timeout", "--timestamp"]),
        ("espia trace open --timestamp ", ["iso", "local", "relative"]),
        ("espia trace dns -o j", ["json", "jsonpretty"]),
        ("espia trace open -c trace --max", ["--max-events"]),  # a value is not a command
        ("espia completion ", ["bash", "zsh"]),
    ],
)
def test_bash_completes_commands_flags_and_values(line, offered):
    assert bash_complete(line) == offered


ZSH_STUBS = """
_describe() { shift; for c in "${(@P)1}"; do print -r -- "${c%%:*}"; done; }
compadd() { shift; for c in "${(@P)1}"; do print -r -- "$c"; done; }
compdef() { :; }
"""


def zsh_complete(line: str) -> list[str]:
    """The candidates `_espia` hands to zsh for `line`, with zsh's completion builtins
    replaced by printers (the script's logic runs in real zsh)."""
    require("zsh")
    words = shlex.split(line) + ([""] if line.endswith(" ") else [])
    script = espia("completion", "zsh").stdout
    program = (
        f"{ZSH_STUBS}\n{script}\nwords=({' '.join(shlex.quote(w) for w in words)})\n"
        f"CURRENT={len(words)}\nPREFIX={shlex.quote(words[-1])}\n_espia\n"
    )
    done = subprocess.run(["zsh", "-f", "-c", program], capture_output=True, text=True, check=True)
    prefix = words[-1]
    return [c for c in done.stdout.split() if c.startswith(prefix)]


@pytest.mark.parametrize(
    ("line", "offered"),
    [
        ("espia trace d", ["dns"]),
        ("espia trace open --timestamp ", ["iso", "local", "relative"]),
        ("espia snapshot socket --no-", ["--no-header", "--no-summary"]),
        ("espia snapshot ", ["process", "socket"]),
        ("espia trace open -m 3 --max", ["--max-events"]),
    ],
)
def test_zsh_completes_the_same_tree(line, offered):
    assert zsh_complete(line) == offered


def test_zsh_script_is_valid_zsh(tmp_path):
    require("zsh")
    script = tmp_path / "_espia"
    script.write_text(espia("completion", "zsh").stdout)
    assert subprocess.run(["zsh", "-n", str(script)], capture_output=True).returncode == 0


def test_the_man_page_renders_every_command_flag_and_example():
    require("groff")
    page = espia("man")
    assert page.returncode == 0, page.stderr
    done = subprocess.run(
        ["groff", "-man", "-Tascii", "-ww", "-rLL=200n"],
        input=page.stdout,
        capture_output=True,
        text=True,
        check=True,
    )
    assert done.stderr == ""  # no roff warnings
    text = re.sub(r".\x08|\x1b\[[0-9;]*m", "", done.stdout)  # bold and underline
    for category, names in catalog().items():
        for name in names:
            assert f"espia {category} {name}" in text
    for flag in ("--max-events", "--no-header", "--timestamp", "--ready", "--buffer-size"):
        assert flag in text
    assert "espia trace open --filter path:/etc/resolv.conf,flags:'~(O_WRONLY|O_RDWR)'" in text
    assert "EXIT STATUS" in text


def examples() -> list[tuple[str, str]]:
    listed = [(c, n, folder) for c, names in catalog().items() for n, folder in names.items()]
    found = []
    for _category, _name, folder in listed:
        for command, _ in GadgetSpec.from_folder(folder).examples:
            found.append((folder.name, command))
    for command, _ in GadgetSpec.from_folder(BUILTIN_DIR / "list_containers").examples:
        found.append(("list_containers", command))
    return found


@pytest.mark.parametrize(("gadget", "command"), examples())
def test_every_example_parses_and_its_filters_and_columns_compile(gadget, command):
    """What --help shows is a command that runs: flags parse, terms and columns compile."""
    words = shlex.split(command)
    assert words[0] == "espia"
    args = build_parser().parse_args(words[1:])
    ref = GadgetRef("list", "containers") if args.command == "list-containers" else None
    ref = ref or GadgetRef(args.category, args.gadget)
    run = LocalRuntime().run(ref, run_options(args))
    try:
        columns = default_columns(run.schema, run_options(args).selector.wants_pods)
        make_output(
            args.output,
            run.fields,
            columns,
            None,  # type: ignore[arg-type]
            None,  # type: ignore[arg-type]
            lists=run.schema.lists,
            view=run.schema.view,
            params=run_options(args).params,
        )
    finally:
        run.close()


def test_every_gadget_has_examples_in_its_help():
    for category, names in catalog().items():
        for name in names:
            shown = espia(category, name, "--help").stdout
            assert f"examples:\n  espia {category} {name}" in shown
