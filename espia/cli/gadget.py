"""`espia <category> <gadget>`: run one gadget on this host and print its events."""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Any

from espia.cli.options import container_options
from espia.engine.local import RunOptions
from espia.engine.session import open_session
from espia.gadget.registry import builtin
from espia.output import make_output


def run_gadget_command(args: Any, stopper: Callable[[Callable[[], None]], Any]) -> int:
    spec = builtin(args.category, args.gadget)
    options = RunOptions(
        filter=",".join(args.filter) if args.filter else None,
        timeout=args.timeout,
        buffer_size=args.buffer_size,
        exclude_self=True,
    )
    session = open_session(spec, options, container_options(args))
    try:
        fields = session.schema.fields

        def output_for(columns: list[str]) -> Any:
            return make_output(
                args.output,
                fields,
                columns,
                sys.stdout,
                sys.stderr,
                lists=spec.json_lists,
                title=spec.title,
            )

        output_for(session.default_columns())  # a bad -o is reported before anything loads
        session.start()
        output = output_for(session.default_columns())
        signals = stopper(session.stop)
        try:
            output.begin()
            for batch in session.batches():
                if batch.lost:
                    output.lost(batch.lost, session.lost_total)
                output.write(batch.events)
            output.end()
        finally:
            signals.restore()
    finally:
        session.close()
    return 0
