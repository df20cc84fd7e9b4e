"""`espia agent --metrics dns,tcp`: the node agent also serves metrics for Prometheus.

The exporter (espia.metrics) runs over the agent's own runtime, so its
gadgets share the agent's container collection: events carry the node's
pods as labels.  It is opt-in (the DaemonSet asks for it with `kubectl
espia deploy --metrics`), and listens where `--metrics-listen` says; in a
pod that is the pod's address, which Prometheus scrapes.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from espia.metrics.spec import DEFAULT_LISTEN, builtin_set, builtin_sets

if TYPE_CHECKING:
    from espia.engine.runtime import LocalRuntime


def add_flags(agent: argparse.ArgumentParser) -> None:
    agent.add_argument(
        "--metrics",
        metavar="SETS",
        help=f"also serve these metric sets for Prometheus ({', '.join(builtin_sets())}; "
        "comma-separated)",
    )
    agent.add_argument(
        "--metrics-listen",
        default=DEFAULT_LISTEN,
        metavar="ADDR",
        help=f"ADDRESS:PORT of the metrics endpoint (default {DEFAULT_LISTEN})",
    )


@contextmanager
def exporting(args: Any, runtime: LocalRuntime) -> Iterator[None]:
    """The metrics endpoint while the agent runs, if --metrics asks for one."""
    if not args.metrics:
        yield
        return
    from espia.engine.source import RunOptions
    from espia.metrics.exporter import Exporter, parse_listen

    listen = parse_listen(args.metrics_listen)
    sets = [builtin_set(name.strip()) for name in args.metrics.split(",") if name.strip()]
    with Exporter(runtime, sets, RunOptions(exclude_self=True), listen) as exporter:
        exporter.start()
        sys.stderr.write(f"espia agent: serving metrics on {exporter.url}\n")
        sys.stderr.flush()
        yield
