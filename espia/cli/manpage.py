"""`espia man`: espia(1), a man page in roff generated from espia's parser.

Every command, its description, its flags by group and its examples (the
gadgets' gadget.yaml `examples:`) come from the parser that runs them, so
the page cannot say what espia does not do.  `make man` writes it to
build/espia.1; `espia man | man -l -` reads it at once.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from espia._version import __version__
from espia.cli._commands import Command, Option, walk


def add_parser(commands: Any) -> None:
    commands.add_parser(
        "man",
        help="print espia's man page (roff: `espia man | man -l -`)",
        description="Print espia(1), generated from espia's commands and flags.",
    )


def roff(text: str) -> str:
    """`text` safe as roff: backslashes escaped, hyphens as minus signs, and no line
    that starts with a control character."""
    escaped = text.replace("\\", "\\e").replace("-", "\\-")
    return "\n".join(
        f"\\&{line}" if line[:1] in (".", "'") else line for line in escaped.splitlines()
    )


def _option(option: Option) -> list[str]:
    spelled = ", ".join(f"\\fB{roff(flag)}\\fR" for flag in option.flags)
    if option.metavar:
        spelled += f" \\fI{roff(option.metavar)}\\fR"
    return [".TP", spelled, roff(option.help or "")]


def _command(command: Command, prog: str) -> list[str]:
    lines = [f".SS {roff(' '.join((prog, *command.path)))}"]
    if command.description:
        lines.append(roff(command.description))
    if command.subcommands:
        lines += [".PP", "Commands:"]
        for name, about in command.subcommands:
            lines += [".TP", f"\\fB{roff(name)}\\fR", roff(about)]
    group = None
    for option in command.options:
        if option.group != group:
            group = option.group
            lines += [".PP", f"\\fI{roff(group or 'options')}\\fR:"]
        lines += _option(option)
    if command.epilog:
        lines += [".PP", ".nf", roff(command.epilog), ".fi"]
    return lines


def man_page(parser: argparse.ArgumentParser) -> str:
    prog = parser.prog
    tree = list(walk(parser))
    top = tree[0]
    lines = [
        f'.TH {prog.upper()} 1 "" "{prog} {__version__}" "User Commands"',
        ".SH NAME",
        f"{prog} \\- {roff(top.description)}",
        ".SH SYNOPSIS",
        f"\\fB{prog}\\fR \\fICOMMAND\\fR [\\fIGADGET\\fR] [\\fIFLAGS\\fR]",
        ".SH DESCRIPTION",
        roff(
            "espia loads small eBPF programs (gadgets) into the kernel, and ties every event "
            "they report to the container, pod and namespace that caused it. "
            f"`{prog} COMMAND GADGET --help` also lists a gadget's fields."
        ),
        ".SH COMMANDS",
    ]
    for command in tree[1:]:
        lines += _command(command, prog)
    lines += [
        ".SH OPTIONS",
        *[line for option in top.options for line in _option(option)],
        ".SH EXIT STATUS",
        "0 when done (Ctrl\\-C, a timeout, \\-m included), 1 for a runtime error "
        "(privileges, the kernel, output that cannot be written), 2 for a usage error.",
        "",
    ]
    return "\n".join(lines)


def run(args: Any, parser: argparse.ArgumentParser) -> int:
    sys.stdout.write(man_page(parser))
    sys.stdout.flush()
    return 0
