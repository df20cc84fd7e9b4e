"""`espia <category> <gadget>` (and `espia list-containers`): run one gadget, print its events.

The command depends only on the runtime protocol (espia.engine.runtime):
the gadget's schema value says what the events hold, and the output is the
door's last stage.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Mapping
from typing import Any

from espia.cli.columns import default_columns
from espia.cli.options import container_sources, run_options
from espia.engine.runtime import GadgetRef, LocalRuntime, Runtime
from espia.output import make_output


def run_gadget_command(args: Any, stopper: Callable[[Callable[[], None]], Any]) -> int:
    gadget = GadgetRef(args.category, args.gadget)
    return run_gadget(LocalRuntime(container_sources(args)), gadget, args, stopper)


def run_gadget(
    runtime: Runtime,
    gadget: GadgetRef,
    args: Any,
    stopper: Callable[[Callable[[], None]], Any],
    params: Mapping[str, object] | None = None,
    first_columns: tuple[str, ...] = (),
) -> int:
    """Runs `gadget` with the flags in `args` until it ends, its timeout, or Ctrl-C."""
    options = run_options(args, params)
    run = runtime.run(gadget, options)
    try:
        columns = [*first_columns, *default_columns(run.schema, options.selector.wants_pods)]
        output = make_output(
            args.output, run.fields, columns, sys.stdout, sys.stderr, lists=run.schema.lists
        )
        run.start()
        signals = stopper(run.stop)
        try:
            output.begin()
            for batch in run.batches():
                if batch.lost:
                    output.lost(batch.lost, run.lost)
                output.write(batch.events)
            output.end()
        finally:
            signals.restore()
    finally:
        run.close()
    return 0
