"""`espia <category> <gadget>`: run one gadget on this host and print its events."""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Any

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
    )
    show_k8s = bool(args.namespace or args.podname or args.selector or args.all_namespaces)
    session = open_session(spec, options, show_k8s=show_k8s)
    run = session.run
    try:
        output = make_output(
            args.output, session.schema.fields, session.default_columns, sys.stdout, sys.stderr
        )
        run.start()
        signals = stopper(run.stop)
        try:
            output.begin()
            for batch in run.batches():
                if batch.lost:
                    output.lost(batch.lost, run.lost_total)
                output.write(batch.events)
            output.end()
        finally:
            signals.restore()
    finally:
        run.close()
    return 0
