"""`espia run PATH [FLAGS]`: the user's own gadget, with every flag a built-in gadget has.

PATH is a ``.bpf.c`` file, a gadget folder or a built ``.bpf.o``
(espia.gadget.local), or, when no such file exists, an image NAME[:TAG] of
the store (espia.images), pulled first when missing (``--pull``) and
verified.  A ``.bpf.c`` is built through the compile cache
(espia.ebpf.compile_cache; ``--compile-cache DIR``, ``--no-compile-cache``).
The flags after PATH are parsed once the gadget is
open, because its parameters (``--NAME VALUE``, from the object's
GADGET_PARAMs) are part of them; `espia run PATH --help` lists the flags,
then the gadget's fields and parameters.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from contextlib import ExitStack
from pathlib import Path
from typing import Any

from espia.errors import UsageError
from espia.images.store import looks_like_reference

ABOUT = "run your own gadget: a .bpf.c file, a gadget folder, a built .bpf.o, or an image"


def add_parser(commands: Any) -> None:
    run = commands.add_parser("run", help=ABOUT, description=ABOUT, add_help=False)
    run.add_argument("-h", "--help", action="help", help="show this help")
    run.add_argument(
        "path", metavar="PATH", help="a .bpf.c file, a gadget folder, a .bpf.o, or NAME[:TAG]"
    )
    run.add_argument(
        "flags",
        nargs=argparse.REMAINDER,
        metavar="FLAGS",
        help="the gadget's flags (see `espia run PATH --help`)",
    )


def run(args: Any, stopper: Callable[[Callable[[], None]], Any]) -> int:
    """Opens the gadget at args.path, parses its flags, runs it until it ends."""
    from espia.cli.gadget import run_gadget
    from espia.cli.options import container_sources
    from espia.cli.params import add_named_params, add_param_option
    from espia.cli.parser import Parser, add_gadget_flags
    from espia.ebpf.object import BpfObject
    from espia.engine.runtime import LocalRuntime
    from espia.gadget.local import open_gadget
    from espia.gadget.params import find_params

    opening, rest = _opening_parser(args.path).parse_known_args(args.flags)
    with ExitStack() as stack:
        if Path(args.path).exists() or not looks_like_reference(args.path):
            spec = open_gadget(
                args.path, stack, opening.compile_cache, cached=not opening.no_compile_cache
            )
        else:
            spec = _open_image(args.path, opening, stack)
        # Its parameters are flags.  Its BTF was checked as it was opened (trusted: not again).
        with BpfObject.open(spec.object_path, trusted=True) as obj:
            rodata = obj.data(".rodata")
            params = find_params(spec, obj.btf, rodata.read if rodata else None, spec.shown_object)
        parser = Parser(prog=f"espia run {args.path}", add_help=False, description=spec.description)
        parser.set_defaults(gadget_spec=spec)
        add_gadget_flags(parser)
        _add_opening_flags(parser)
        add_param_option(parser)
        try:
            add_named_params(parser, ((p.name, p.short, p.description) for p in params))
        except argparse.ArgumentError as exc:
            raise UsageError(
                f"run {args.path}: a parameter's flag is one of espia's own ({exc.argument_name}): "
                "rename the parameter"
            ) from None
        flags = parser.parse_args(rest)
        return run_gadget(LocalRuntime(container_sources(flags)), spec, flags, stopper)


def _add_opening_flags(parser: argparse.ArgumentParser) -> None:
    """The flags that say how the gadget is opened: built (a .bpf.c), or fetched (an image)."""
    from espia.cli.image import add_registry_flags, add_store_flag, add_verify_flags

    build = parser.add_argument_group("building (a .bpf.c or a folder)")
    build.add_argument(
        "--compile-cache",
        metavar="DIR",
        help="where built objects are kept (default $ESPIA_COMPILE_CACHE, else /var/cache/espia)",
    )
    build.add_argument(
        "--no-compile-cache",
        action="store_true",
        help="compile afresh, and keep nothing",
    )
    images: Any = parser.add_argument_group("images (NAME[:TAG])")  # the flags take a parser
    images.add_argument(
        "--pull",
        choices=("always", "missing", "never"),
        default="missing",
        help="fetch the image from its registry: always, when missing (default), never",
    )
    add_store_flag(images)
    add_registry_flags(images)
    add_verify_flags(images)


def _opening_parser(path: str) -> argparse.ArgumentParser:
    """Those flags alone, read before the gadget is open (they say how to open it)."""
    from espia.cli.parser import Parser

    parser = Parser(prog=f"espia run {path}", add_help=False)
    _add_opening_flags(parser)
    return parser


def _open_image(text: str, flags: Any, stack: ExitStack) -> Any:
    """The image `text` of the store as a gadget, pulled first as --pull says."""
    from espia.cli.image import public_key, registry_options
    from espia.images.gadget import open_image
    from espia.images.store import Reference, Store

    ref = Reference.parse(text)
    store = Store(flags.store)
    wanted = flags.pull == "always" or (flags.pull == "missing" and not store.has(ref))
    if wanted and (ref.registry is not None or flags.pull == "always"):
        from espia.images.remote import pull

        pull(ref, store, registry_options(flags), public_key(flags, "pull", ref))
    return open_image(ref, store, stack)
