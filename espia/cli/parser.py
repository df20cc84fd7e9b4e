"""The command line: `espia <category> <gadget> [flags]` and the other commands.

Gadget subcommands come from the catalog (folder names), so adding a gadget
folder adds its command.  Errors are one line and exit 2; `--help` on a
gadget also lists its fields, read from the gadget's BTF.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from typing import Any, NoReturn

from espia._version import __version__
from espia.cli.display import add_display_flags
from espia.cli.params import add_named_params, add_param_option
from espia.engine.source import parse_size, validate_timeout
from espia.errors import UsageError
from espia.gadget.registry import BUILTIN_DIR, CATEGORIES, catalog, spec_of
from espia.gadget.spec import GadgetSpec, examples_text
from espia.output import MODES

# Where the gadget's own flags (gadget.yaml `options:`) land in the parsed arguments.
OPTION_PREFIX = "option_"


class ExamplesFormatter(argparse.HelpFormatter):
    """Wraps the description as usual; the examples (the epilog) keep their lines."""

    def _fill_text(self, text: str, width: int, indent: str) -> str:
        if text.startswith("examples:"):
            return "".join(indent + line for line in text.splitlines(keepends=True))
        return super()._fill_text(text, width, indent)


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
        from espia.engine.runtime import GadgetRef

        # `espia run PATH` sets the opened gadget; the catalog's commands name one.
        gadget = parser.get_default("gadget_spec") or GadgetRef(
            parser.get_default("category"), parser.get_default("gadget")
        )
        parser.print_help()
        sys.stdout.write(gadget_help(gadget))
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
    add_stream_flags(out)
    add_selection_flags(parser)


def add_stream_flags(out: Any, timeout: bool = True) -> None:
    """-F, -t, --buffer-size: what a gadget keeps, for how long, through how much memory
    (without -t for a command that says how long its own way)."""
    out.add_argument(
        "-F",
        "--filter",
        action="append",
        metavar="TERMS",
        help="field:value, field:!value, field:~regex, field:!~regex, field:>N ... "
        "(comma-separated, all must hold; repeatable)",
    )
    if timeout:
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


def add_selection_flags(parser: argparse.ArgumentParser) -> None:
    """-n -A -p -c -l --host and the runtime flags: which containers and pods."""
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


def _option_type(name: str, option: dict[str, Any]) -> Callable[[str], object]:
    """The converter of a gadget option's value: an int in its range, a path (not empty:
    an empty one would be taken for no file at all, silently), or the text."""
    if option["type"] == "path":

        def path(text: str) -> str:
            if not text:
                raise argparse.ArgumentTypeError(f"{name}: the path is empty")
            return text

        return path
    if option["type"] != "int":
        return str
    low, high = option.get("min"), option.get("max")

    def whole(text: str) -> int:
        try:
            value = int(text, 10)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{name} {text!r} is not a whole number") from None
        if (low is not None and value < low) or (high is not None and value > high):
            raise argparse.ArgumentTypeError(f"{name} {value}: must be {low} to {high}")
        return value

    return whole


def _checked(convert: Callable[[str], Any], validate: Callable[[Any], Any], noun: str) -> Any:
    """An argparse type: `convert` the text, then `validate` it; `noun` ("interval", "max
    rows") names the value in the one-line error."""

    def parse(text: str) -> Any:
        try:
            return validate(convert(text))
        except ValueError:
            raise argparse.ArgumentTypeError(f"{noun} {text!r} is not a number") from None
        except UsageError as exc:
            raise argparse.ArgumentTypeError(str(exc)) from None

    return parse


def add_interval_flags(parser: argparse.ArgumentParser, spec: GadgetSpec) -> None:
    """The flags of a gadget that shows a table per interval (espia.output.interval).

    Their modules are imported here, for an interval gadget's command only: a
    trace's start-up has no use for them."""
    from espia.engine.interval import validate_interval
    from espia.output.interval import DEFAULT_MAX_ROWS, validate_max_rows

    table = parser.add_argument_group("interval")
    table.add_argument(
        "--interval",
        type=_checked(float, validate_interval, "interval"),
        default=spec.interval,
        metavar="SECONDS",
        help=f"length of an interval, 0 for one at the end (default {spec.interval:g})",
    )
    table.add_argument(
        "--max-rows",
        type=_checked(int, validate_max_rows, "max rows"),
        default=DEFAULT_MAX_ROWS,
        metavar="N",
        help=f"rows shown per interval (default {DEFAULT_MAX_ROWS})",
    )
    table.add_argument(
        "--sort",
        metavar="COLUMNS",
        default=",".join(spec.sort),
        help=f"order of the rows, -col descending (default {','.join(spec.sort) or 'none'})",
    )


def add_option_flags(parser: argparse.ArgumentParser, spec: GadgetSpec) -> None:
    """The gadget's own flags (gadget.yaml `options:`), and --duration for a profile."""
    if not spec.options and spec.category != "profile":
        return
    own = parser.add_argument_group(f"{spec.title}")
    if spec.category == "profile":
        own.add_argument(
            "--duration",
            type=_timeout,
            dest="timeout",
            default=argparse.SUPPRESS,
            metavar="SECONDS",
            help="how long to sample (the same as -t; default: until Ctrl-C)",
        )
    for name, option in spec.options.items():
        flag = "--" + name.replace("_", "-")
        dest = f"{OPTION_PREFIX}{name}"
        about = str(option.get("description") or "")
        if option["type"] == "bool":
            own.add_argument(flag, dest=dest, action="store_const", const=True, help=about)
            continue
        metavar = "FILE" if option["type"] == "path" else name.upper()
        own.add_argument(
            flag,
            dest=dest,
            type=_option_type(flag, option),
            default=option.get("default"),
            metavar=metavar,
            help=about,
        )


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


def _named_gadget(argv: Sequence[str] | None) -> tuple[str, str] | None:
    """(category, name) when the command line starts with a gadget of the catalog."""
    words = list(sys.argv[1:] if argv is None else argv)[:2]
    if len(words) == 2 and words[1] in (catalog().get(words[0]) or {}):
        return words[0], words[1]
    return None


def add_gadget_commands(
    commands: Any,
    more_flags: Callable[[argparse.ArgumentParser], None] | None = None,
    params: bool = False,
    argv: Sequence[str] | None = None,
) -> None:
    """`<category> <gadget>` for each gadget of the catalog, with the gadget flags (and
    `more_flags`: the cluster door's; `params`: the gadgets' parameters).

    When `argv` (default: the process's arguments) starts with a gadget of the
    catalog, only that gadget's command is built: each command reads its
    gadget.yaml for its description, and reading all of them would be most of
    start-up's parsing.  Anything else (`espia trace --help`, a misspelt name)
    gets every command, so that listings and suggestions stay whole.
    """
    gadgets = catalog()
    named = _named_gadget(argv)
    for category, about in CATEGORIES.items():
        names = gadgets.get(category) or {}
        if named is not None:
            names = {named[1]: names[named[1]]} if named[0] == category else {}
        if not names:
            continue
        sub = commands.add_parser(category, help=about, description=about)
        kinds = sub.add_subparsers(dest="gadget", metavar="GADGET", parser_class=Parser)
        kinds.required = True
        for name, folder in sorted(names.items()):
            spec = spec_of(folder)
            gadget = kinds.add_parser(
                name,
                add_help=False,
                help=spec.description,
                description=spec.description,
                epilog=examples_text(spec.examples),
                formatter_class=ExamplesFormatter,
            )
            gadget.set_defaults(category=category, gadget=name)
            add_gadget_flags(gadget)
            if params:
                add_param_option(gadget)
                add_named_params(
                    gadget,
                    (
                        (n, str(o.get("short") or ""), str(o.get("description") or ""))
                        for n, o in spec.params.items()
                    ),
                )
            add_option_flags(gadget, spec)
            if spec.kind == "interval":
                add_interval_flags(gadget, spec)
            if more_flags is not None:
                more_flags(gadget)


def add_listing_flags(listing: argparse.ArgumentParser) -> None:
    """list-containers' own flags, the same on both doors."""
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


# Commands that need no gadget of the catalog nor any other command: their parser
# is built alone (`espia run` reads its gadget's flags itself, once it is open).
WITHOUT_CATALOG = ("run", "image")


def build_parser(argv: Sequence[str] | None = None) -> Parser:
    """The command line's parser; `argv` (default: the process's arguments), the
    arguments it will parse, spares it the gadgets they do not name (see
    add_gadget_commands), everything but that command for one of WITHOUT_CATALOG,
    and every other command for a gadget's."""
    words = sys.argv[1:] if argv is None else argv
    parser = Parser(
        prog="espia",
        description="Inspect a Linux host or a Kubernetes node with eBPF.",
    )
    parser.add_argument("-V", "--version", action="version", version=f"espia v{__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=Parser)
    if words and words[0] in WITHOUT_CATALOG:
        # The others would import their modules (metrics, agent...) and read
        # list_containers' gadget.yaml for nothing.
        from espia.cli import image, run

        (run if words[0] == "run" else image).add_parser(commands)
        return parser
    add_gadget_commands(commands, add_display_flags, params=True, argv=argv)
    if _named_gadget(words) is not None:
        # A gadget's command line needs no other command: their modules (images,
        # metrics...) are neither imported nor held in memory by a gadget's run.
        return parser
    from espia.cli import completion, image, manpage, run

    run.add_parser(commands)
    image.add_parser(commands)
    listing = commands.add_parser(
        "list-containers",
        help="list the containers of this host",
        add_help=True,
        epilog=examples_text(GadgetSpec.from_folder(BUILTIN_DIR / "list_containers").examples),
        formatter_class=ExamplesFormatter,
    )
    add_listing_flags(listing)
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
    agent.add_argument(
        "--runtime-from-kubelet",
        action="store_true",
        help="follow the container runtime this node's kubelet uses (found in /proc)",
    )
    add_runtime_flags(agent)
    from espia.agent import metrics as agent_metrics
    from espia.cli import diagnose, metrics  # they use this module's flag groups

    agent_metrics.add_flags(agent)

    metrics.add_parser(commands)
    diagnose.add_parser(commands)
    commands.add_parser("version", help="print the version")
    completion.add_parser(commands)
    manpage.add_parser(commands)
    return parser
