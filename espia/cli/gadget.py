"""`espia <category> <gadget>` (and `espia list-containers`): run one gadget, print its events.

The command depends only on the runtime protocol (espia.engine.runtime):
the gadget's schema value says what the events hold, and the output is the
door's last stage.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Mapping
from typing import Any, TextIO

from espia.cli.columns import default_columns
from espia.cli.display import Display
from espia.cli.options import container_sources, run_options
from espia.engine.runtime import Gadget, GadgetRef, LocalRuntime, Runtime
from espia.engine.wire import WireSchema
from espia.gadget.fields import Field
from espia.output import Output, make_output


def gadget_output(
    args: Any,
    display: Display,
    schema: WireSchema,
    fields: tuple[Field, ...],
    columns: list[str],
    params: Mapping[str, object],
    out: TextIO,
    err: TextIO,
) -> Output:
    """The writer of `-o` for a gadget's events, as both doors show them: a stream, a
    list per snapshot, a table per interval (--sort, --max-rows), histograms, stacks."""
    output: Output = make_output(
        args.output,
        fields,
        display.columns(columns),
        out,
        err,
        lists=schema.lists,
        title=schema.gadget,
        header=display.header,
        view=schema.view,
        params=params,
    )
    if schema.histogram:
        from espia.output.histogram import Histogram, HistogramOutput  # a histogram's only

        shape = Histogram(**dict(schema.histogram))
        return HistogramOutput(args.output, fields, display.columns(columns), shape, out, err)
    if hasattr(args, "interval"):
        from espia.output.interval import IntervalOutput  # an interval gadget's only

        return IntervalOutput(output, fields, args.sort, args.max_rows)
    return output


def run_gadget_command(args: Any, stopper: Callable[[Callable[[], None]], Any]) -> int:
    gadget = GadgetRef(args.category, args.gadget)
    return run_gadget(LocalRuntime(container_sources(args)), gadget, args, stopper)


def run_gadget(
    runtime: Runtime,
    gadget: Gadget,
    args: Any,
    stopper: Callable[[Callable[[], None]], Any],
    params: Mapping[str, object] | None = None,
    first_columns: tuple[str, ...] = (),
) -> int:
    """Runs `gadget` with the flags in `args` until it ends, its timeout, or Ctrl-C."""
    interval = {"interval": args.interval} if hasattr(args, "interval") else {}
    options = run_options(args, {**interval, **(params or {})})
    display = Display.from_args(args, sys.stderr)
    run = runtime.run(gadget, options)
    try:
        fields = display.fields(run.fields, run.schema.gadget)
        columns = [*first_columns, *default_columns(run.schema, options.selector.wants_pods)]
        output = gadget_output(
            args, display, run.schema, fields, columns, options.params, sys.stdout, sys.stderr
        )
        run.start()
        signals = stopper(run.stop)
        try:
            output.begin()
            display.attached(sys.stdout, run.schema.gadget)
            for batch in run.batches():
                if batch.lost:
                    output.lost(batch.lost, run.lost)
                events, enough = display.take(batch.events)
                output.write(events)
                if enough:
                    break
            output.end()
        finally:
            signals.restore()
    finally:
        run.close()
    display.write_summary(sys.stderr, run.received, run.lost)
    return 0
