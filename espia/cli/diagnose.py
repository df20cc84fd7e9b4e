"""`espia diagnose dns [--duration S]`: watch DNS for a while, then say what is wrong, per client.

The command runs trace dns through the runtime protocol for `--duration`
seconds (Ctrl-C ends the watch early and still reports), feeds every batch
to the analysis (espia.diagnose.dns), and prints the report: findings in
plain words, most serious first, then per client and nameserver the
counts and latencies; `-o json` prints the same as one JSON object.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
from collections.abc import Callable
from typing import Any

from espia.cli.options import container_sources, run_options
from espia.cli.parser import Parser, add_selection_flags, add_stream_flags
from espia.errors import UsageError


def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = float("nan")
    if not value > 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"duration {text!r} is not a positive number of seconds")
    return value


def _latency(text: str) -> int:
    from espia.semantic.dns import parse_duration

    try:
        return parse_duration(text)
    except UsageError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def add_parser(commands: Any) -> None:
    about = "watch a subsystem for a while, then say what is wrong, in plain words"
    parser = commands.add_parser("diagnose", help=about, description=about)
    kinds = parser.add_subparsers(dest="diagnosis", metavar="WHAT", parser_class=Parser)
    kinds.required = True
    dns = add_dns_parser(
        kinds,
        "own, from its /etc/resolv.conf: a pod's names the cluster DNS service",
    )
    add_stream_flags(dns.add_argument_group("events"), timeout=False)
    add_selection_flags(dns)


def add_dns_parser(kinds: Any, default_resolver: str) -> argparse.ArgumentParser:
    """`diagnose dns` and the flags of the diagnosis itself, for both doors (each adds its
    own scope flags); `default_resolver` says whose resolver a client is checked against."""
    dns: argparse.ArgumentParser = kinds.add_parser(
        "dns",
        help="DNS trouble per pod, container or process",
        description="Watch DNS, then report per client and nameserver: queries, answers, "
        "error codes, latency, and what looks wrong, most serious first.",
    )
    dns.add_argument(
        "-d",
        "--duration",
        type=_seconds,
        default=10.0,
        metavar="SECONDS",
        help="how long to watch (default 10)",
    )
    dns.add_argument(
        "--slow",
        type=_latency,
        default="200ms",
        metavar="LATENCY",
        help="p99 above which a nameserver's answers are slow (default 200ms)",
    )
    dns.add_argument(
        "--resolver",
        action="append",
        default=[],
        metavar="ADDR",
        help=f"a nameserver every client should use (repeatable; default: each client's "
        f"{default_resolver})",
    )
    dns.add_argument("-o", "--output", default="columns", metavar="MODE", help="columns|json")
    return dns


def check_output(args: Any) -> None:
    if args.output not in ("columns", "json"):
        raise UsageError(f"output {args.output!r}: columns or json")


def write_report(report: dict[str, Any], output: str) -> None:
    """The report on stdout, as text or one JSON object."""
    from espia.diagnose.text import dns_report_text

    if output == "json":
        sys.stdout.write(json.dumps(report) + "\n")
    else:
        sys.stdout.write(dns_report_text(report))
    sys.stdout.flush()


def run(args: Any, stopper: Callable[[Callable[[], None]], Any]) -> int:
    from espia.diagnose.dns import DnsDiagnosis
    from espia.engine.runtime import GadgetRef, LocalRuntime

    check_output(args)
    options = dataclasses.replace(run_options(args), timeout=args.duration)
    runtime = LocalRuntime(container_sources(args))
    run = runtime.run(GadgetRef("trace", "dns"), options)
    try:
        diagnosis = DnsDiagnosis(run.event_schema, args.resolver)
        run.start()
        signals = stopper(run.stop)
        # Progress, on stderr: what is printed on stdout is the report alone.
        sys.stderr.write(f"watching DNS for {args.duration:g} s (Ctrl-C: report now)\n")
        sys.stderr.flush()
        try:
            for batch in run.batches():
                diagnosis.add(batch.events)
        finally:
            signals.restore()
        report = diagnosis.report(args.duration, run.lost, args.slow)
    finally:
        run.close()
    write_report(report, args.output)
    return 0
