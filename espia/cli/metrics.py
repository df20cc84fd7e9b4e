"""`espia metrics [SET...] [-f FILE] [--gadget G --counter ... --histogram ...]`: gadgets'
events as Prometheus metrics, served over HTTP (loopback unless --listen says otherwise).

    espia metrics dns tcp                       the built-in sets
    espia metrics -f my-metrics.yaml            a set of one's own (espia.metrics.spec)
    espia metrics --gadget 'trace open' --counter 'espia_opens_total:comm,errname@err:!0'

It prints the endpoint's URL once everything is loaded, then runs until
Ctrl-C or -t; -F and the selectors apply to every gadget it runs.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from typing import Any

from espia.cli.options import container_sources, run_options
from espia.cli.parser import add_selection_flags, add_stream_flags
from espia.errors import UsageError
from espia.metrics.spec import (
    DEFAULT_LISTEN,
    DEFAULT_MAX_SERIES,
    MetricSet,
    builtin_set,
    builtin_sets,
    flag_metrics,
    load_file,
)


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text!r} is not a positive number")
    return value


def add_parser(commands: Any) -> None:
    parser = commands.add_parser(
        "metrics",
        help="gadgets' events as Prometheus metrics, over HTTP",
        description="Count gadgets' events into Prometheus metrics and serve them over HTTP.",
    )
    parser.add_argument(
        "sets",
        nargs="*",
        metavar="SET",
        help=f"built-in metric sets: {', '.join(builtin_sets())}",
    )
    declare = parser.add_argument_group("metrics")
    declare.add_argument(
        "-f", "--config", action="append", default=[], metavar="FILE", help="a YAML metric set"
    )
    declare.add_argument(
        "--gadget", metavar="'CATEGORY NAME'", help="the gadget --counter and --histogram count"
    )
    declare.add_argument(
        "--counter",
        action="append",
        default=[],
        metavar="NAME[:LABELS][@TERMS]",
        help="a counter of that gadget's events, labelled by fields (field or label=field, "
        "comma-separated), of the events the -F terms after @ keep",
    )
    declare.add_argument(
        "--histogram",
        action="append",
        default=[],
        metavar="NAME=FIELD[:LABELS][@TERMS]",
        help="a histogram of a numeric field (default buckets)",
    )
    declare.add_argument(
        "--max-series",
        type=_positive,
        default=DEFAULT_MAX_SERIES,
        metavar="N",
        help=f"label sets per metric before the overflow series (default {DEFAULT_MAX_SERIES})",
    )
    declare.add_argument(
        "--listen",
        default=DEFAULT_LISTEN,
        metavar="ADDR",
        help=f"ADDRESS:PORT to serve /metrics on (default {DEFAULT_LISTEN}; port 0: any free)",
    )
    stream = parser.add_argument_group("events")
    add_stream_flags(stream)
    add_selection_flags(parser)


def metric_sets(args: Any) -> list[MetricSet]:
    """The sets the command line names, in order: built-in, files, flags."""
    sets = [builtin_set(name, args.max_series) for name in args.sets]
    sets += [load_file(path, args.max_series) for path in args.config]
    if args.gadget or args.counter or args.histogram:
        if not args.gadget:
            raise UsageError("--counter and --histogram need --gadget 'CATEGORY NAME'")
        sets.append(
            flag_metrics(args.gadget, args.counter, args.histogram, "flags", args.max_series)
        )
    if not sets:
        raise UsageError(
            f"metrics: name a set ({', '.join(builtin_sets())}), a file (-f) or --gadget "
            "with --counter/--histogram (see `espia metrics --help`)"
        )
    return sets


def run(args: Any, stopper: Callable[[Callable[[], None]], Any]) -> int:
    from espia.engine.runtime import LocalRuntime
    from espia.metrics.exporter import Exporter, parse_listen

    listen = parse_listen(args.listen)
    sets = metric_sets(args)
    runtime = LocalRuntime(container_sources(args))
    with Exporter(runtime, sets, run_options(args), listen) as exporter:
        exporter.start()
        signals = stopper(exporter.stop)
        try:
            gadgets = ", ".join(
                f"{gadget.set.title} ({len(gadget.metrics)} metrics)" for gadget in exporter.gadgets
            )
            sys.stdout.write(f"serving {exporter.url}: {gadgets}\n")
            sys.stdout.flush()
            exporter.wait()
        finally:
            signals.restore()
    return 0
