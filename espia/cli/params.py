"""Gadget parameters on the command line: `--param NAME=VALUE` and each one's named form.

The named forms (``--failed-only``, ``-s SIGKILL``) come from gadget.yaml's
``params:`` for the built-in gadgets (so building the parser opens no
object) and from the object itself for `espia run`.  Every value reaches the
engine as text: its type is the program's (espia.gadget.params), checked
before anything loads.  A named flag given without a value means "true",
which only a bool parameter accepts.
"""

from __future__ import annotations

import argparse
from collections.abc import Iterable
from typing import Any

DEST_PREFIX = "param__"


def _assignment(text: str) -> tuple[str, str]:
    name, sep, value = text.partition("=")
    if not sep or not name.strip():
        raise argparse.ArgumentTypeError(f"parameter {text!r}: expected NAME=VALUE")
    return name.strip(), value


def add_param_option(parser: argparse.ArgumentParser) -> None:
    """`--param NAME=VALUE`, repeatable."""
    parser.add_argument(
        "--param",
        type=_assignment,
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="set a parameter of the gadget (repeatable; see the parameters below)",
    )


def add_named_params(
    parser: argparse.ArgumentParser, params: Iterable[tuple[str, str, str]]
) -> None:
    """A flag for each (name, short letter or "", description)."""
    group = parser.add_argument_group("gadget parameters")
    for name, short, description in params:
        flags = [f"-{short}"] if short else []
        flags.append("--" + name.replace("_", "-"))
        group.add_argument(
            *flags,
            dest=DEST_PREFIX + name,
            nargs="?",
            const="",
            metavar="VALUE",
            help=description or f"parameter {name}",
        )


def param_values(args: Any) -> dict[str, str]:
    """{name: text} from --param and the named flags (a named flag wins over --param)."""
    values = dict(getattr(args, "param", None) or ())
    for dest, value in vars(args).items():
        if dest.startswith(DEST_PREFIX) and value is not None:
            values[dest.removeprefix(DEST_PREFIX)] = value
    return values
