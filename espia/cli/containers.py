"""`espia list-containers [--watch]`: the list-containers gadget, with its own flags.

The listing is a gadget (espia/gadgets/list_containers) whose source reads
the runtime's container collection, so it takes the same selectors, filters
and outputs as any gadget; with --watch the EVENT column comes first.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from espia.cli.gadget import run_gadget
from espia.cli.options import container_sources
from espia.engine.runtime import GadgetRef, LocalRuntime

LIST_CONTAINERS = GadgetRef("list", "containers")


def list_containers_command(args: Any, stopper: Callable[[Callable[[], None]], Any]) -> int:
    runtime = LocalRuntime(container_sources(args))
    return run_gadget(
        runtime,
        LIST_CONTAINERS,
        args,
        stopper,
        params={"watch": args.watch},
        first_columns=("event",) if args.watch else (),
    )
