"""The command line: `espia <category> <gadget> [flags]` and the other commands.

Gadget subcommands come from the catalog (folder names), so adding a gadget
folder adds its command.  Errors are one line and exit 2; `--help` on a
gadget also lists its fields, read from the gadget's BTF.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from typing import Any, NoReturn

from espia._version import __version__
from espia.engine.source import parse_size, validate_timeout
from espia.errors import UsageError
from espia.gadget.registry import CATEGORIES, catalog
from espia.gadget.spec import GadgetSpec
from espia.output import MODES


class Parser(argparse.ArgumentParser):
    """An ArgumentParser whose errors are one line naming the fix."""

    def error(self, message: str) -> NoReturn:
        raise UsageError(f"{message} (see `{self.prog} --help`)")


def _timeout(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"timeout {text!r} is not a number of seconds") from None
    try:
        return validate_timeout(value)
    except UsageError as exc:
        raise argparse.ArgumentTypeError(str(exc).replace(repr(value), repr(text))) from None


def _size(text: str) -> int:
    """ "16M", "256k" or a number of bytes."""
    try:
        return parse_size(text)
    except UsageError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


class _GadgetHelp(argparse.Action):
    """-h/--help on a gadget: the usual help, then its fields, one line each."""

    def __init__(self, option_strings: list[str], dest: str, **kwargs: Any) -> None:
        super().__init__(option_strings, dest, nargs=0, help="show this help and the fields")

    def __call__(self, parser: argparse.ArgumentParser, *args: Any, **kwargs: Any) -> None:
        from espia.cli.help import gadget_help

        category, name = parser.get_default("category"), parser.get_default("gadget")
        parser.print_help()
        sys.stdout.write(gadget_help(category, name))
        parser.exit()


def add_gadget_flags(parser: argparse.ArgumentParser) -> None:
    """The flags every gadget understands (SPEC: "Flags every gadget understands")."""
    parser.add_argument("-h", "--help", action=_GadgetHelp)
    out = parser.add_argument_group("output")
    out.add_argument(
        "-o",
        "--output",
        default="columns",
        metavar="MODE",
        help=f"{'|'.join(MODES)}; columns=a,b picks columns, columns=+x,-y changes the defaults",
    )
    out.add_argument(
        "-F",
        "--filter",
        action="append",
        metavar="TERMS",
        help="field:value, field:!value, field:~regex, field:!~regex, field:>N ... "
        "(comma-separated, all must hold; repeatable)",
    )
    out.add_argument(
        "-t",
        "--timeout",
        type=_timeout,
        default=0.0,
        metavar="SECONDS",
        help="stop after SECONDS (default 0: until Ctrl-C)",
    )
    out.add_argument(
        "--buffer-size",
        type=_size,
        metavar="SIZE",
        help="ring buffer size, a power of two (default 16M)",
    )
    select = parser.add_argument_group("selection")
    select.add_argument("-n", "--namespace", metavar="NS", help="Kubernetes namespace(s), a,b")
    select.add_argument(
        "-A", "--all-namespaces", action="store_true", help="all Kubernetes namespaces"
    )
    select.add_argument("-p", "--podname", metavar="POD", help="pod name(s), a,b")
    select.add_argument("-c", "--containername", metavar="NAME", help="container name(s), a,b")
    select.add_argument(
        "-l", "--selector", metavar="LABELS", help="pod labels: key=value,key!=value"
    )
    select.add_argument(
        "--host",
        action="store_true",
        help="with a selector, also show processes outside containers",
    )
    add_runtime_flags(parser)


def _socket(text: str) -> tuple[str, str]:
    name, sep, path = text.partition("=")
    if not sep or not name or not path:
        raise argparse.ArgumentTypeError(f"runtime socket {text!r}: expected NAME=PATH")
    return name.strip(), path.strip()


def add_runtime_flags(parser: argparse.ArgumentParser) -> None:
    """Where containers come from: which runtimes, on which sockets."""
    runtimes = parser.add_argument_group("container runtimes")
    runtimes.add_argument(
        "--runtimes",
        metavar="NAMES",
        help="runtimes to ask: containerd,docker,podman,cri-o,cri (default: those present)",
    )
    runtimes.add_argument(
        "--runtime-socket",
        type=_socket,
        action="append",
        default=[],
        metavar="NAME=PATH",
        help="a runtime's API socket, e.g. containerd=/run/k3s/containerd/containerd.sock",
    )
    runtimes.add_argument(
        "--containerd-namespace",
        default="k8s.io",
        metavar="NS",
        help="containerd namespaces to follow, comma-separated (default k8s.io)",
    )


def add_gadget_commands(
    commands: Any, more_flags: Callable[[argparse.ArgumentParser], None] | None = None
) -> None:
    """`<category> <gadget>` for each gadget of the catalog, with the gadget flags (and
    `more_flags`: the cluster door's)."""
    gadgets = catalog()
    for category, about in CATEGORIES.items():
        names = gadgets.get(category) or {}
        if not names:
            continue
        sub = commands.add_parser(category, help=about, description=about)
        kinds = sub.add_subparsers(dest="gadget", metavar="GADGET", parser_class=Parser)
        kinds.required = True
        for name, folder in sorted(names.items()):
            about = GadgetSpec.from_folder(folder).description
            gadget = kinds.add_parser(name, add_help=False, help=about, description=about)
            gadget.set_defaults(category=category, gadget=name)
            add_gadget_flags(gadget)
            if more_flags is not None:
                more_flags(gadget)


def build_parser() -> Parser:
    parser = Parser(
        prog="espia",
        description="Inspect a Linux host or a Kubernetes node with eBPF.",
    )
    parser.add_argument("-V", "--version", action="version", version=f"espia v{__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=Parser)
    add_gadget_commands(commands)
    listing = commands.add_parser(
        "list-containers", help="list the containers of this host", add_help=True
    )
    listing.add_argument(
        "-o", "--output", default="columns", metavar="MODE", help="columns|json|yaml"
    )
    listing.add_argument(
        "-w", "--watch", action="store_true", help="then report containers as they start and stop"
    )
    listing.add_argument("-c", "--containername", metavar="NAME", help="container name(s), a,b")
    listing.add_argument("-n", "--namespace", metavar="NS", help="Kubernetes namespace(s), a,b")
    listing.add_argument("-p", "--podname", metavar="POD", help="pod name(s), a,b")
    listing.add_argument("-l", "--selector", metavar="LABELS", help="pod labels: key=value,...")
    add_runtime_flags(listing)
    agent = commands.add_parser("agent", help="the node agent (the cluster door's daemon)")
    agent.add_argument(
        "--listen",
        default="127.0.0.1:7450",
        metavar="ADDR",
        help="loopback HOST:PORT to serve on (default 127.0.0.1:7450)",
    )
    agent.add_argument(
        "--queue",
        type=int,
        default=32,
        metavar="BATCHES",
        help="batches held per client before the newest are dropped and counted (default 32)",
    )
    agent.add_argument(
        "--health", action="store_true", help="ask the agent at --listen whether it serves"
    )
    add_runtime_flags(agent)
    commands.add_parser("version", help="print the version")
    return parser
