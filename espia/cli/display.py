"""How the local door shows a run: header, how many events, timestamps, a ready record, a
summary at exit.  The writers stay as they are: this module hands them other fields
(a timestamp rendered another way), other columns, and fewer events.

- ``--no-header``: columns without their header line;
- ``-m/--max-events N``: stop after N events shown (the gadget is unloaded as
  after a timeout);
- ``-T`` / ``--timestamp relative|local|iso``: TIMESTAMP as seconds since
  the start, as local time with its UTC offset, or as UTC (the default);
  ``-T`` also shows it, as the first column;
- ``--ready``: in JSON and YAML, a first record ``{"type": "ready", ...}``
  once the gadget is attached (columns have their header for that), so a
  script knows when to start its workload; opt-in, so that ``-o json | jq``
  sees only events unless it asks;
- ``--summary`` / ``--no-summary``: a line on stderr at exit, events received
  from the kernel, shown, and lost; by default only when stderr is a
  terminal, so that logs and scripts capturing stderr get nothing new.
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, TextIO

from espia.errors import UsageError
from espia.gadget.event import Event
from espia.gadget.fields import Field
from espia.semantic.process import BOOT_CLOCK, local_time

TIMESTAMP_MODES = ("iso", "local", "relative")


def _count(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of events") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"{value} is negative; use 0 for no limit")
    return value


def add_display_flags(parser: argparse.ArgumentParser) -> None:
    """The local door's display flags (see the module)."""
    shown = parser.add_argument_group("display")
    shown.add_argument(
        "--no-header", action="store_true", help="columns: leave out the header line"
    )
    shown.add_argument(
        "-m",
        "--max-events",
        type=_count,
        default=0,
        metavar="N",
        help="stop after N events shown (default 0: no limit)",
    )
    shown.add_argument(
        "--timestamp",
        choices=TIMESTAMP_MODES,
        default=None,
        help="TIMESTAMP as UTC (iso, the default), local time, or seconds since the start",
    )
    shown.add_argument(
        "-T",
        dest="relative",
        action="store_true",
        help="show TIMESTAMP first, in seconds since the start (--timestamp relative)",
    )
    shown.add_argument(
        "--ready",
        action="store_true",
        help='json, yaml: a first record {"type": "ready"} once the gadget is attached',
    )
    shown.add_argument(
        "--summary",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="at exit, events received, shown and lost on stderr "
        "(default: when stderr is a terminal)",
    )


def _timestamp_field(timestamp: Field, mode: str, display: Display) -> Field:
    """TIMESTAMP rendered as `mode` says (JSON keeps a string, as for iso)."""

    def relative(boot_ns: int) -> str:
        return f"{(boot_ns - display.start_ns) / 1e9:.6f}"

    def after_start(boot_ns: int) -> str:
        # Another host's clock, brought to this one's, can read a few ms early.
        return f"{max(boot_ns - display.start_ns, 0) / 1e9:.6f}"

    shown = after_start if display.other_clocks else relative
    render: Callable[[Any], str] = local_time if mode == "local" else shown
    width = 32 if mode == "local" else 12

    def quoted(value: Any) -> str:
        return '"' + render(value) + '"'

    return timestamp.with_options(
        render=render, json_render=quoted, width=width, right=mode == "relative"
    )


@dataclass
class Display:
    """One run's display options, and what it showed (for the summary)."""

    mode: str
    header: bool = True
    max_events: int = 0
    timestamp: str = "iso"
    first: bool = False  # -T: TIMESTAMP as the first column
    ready: bool = False
    summary: bool = False
    shown: int = 0
    start_ns: int = field(default_factory=lambda: time.clock_gettime_ns(time.CLOCK_BOOTTIME))
    # The gadget's TIMESTAMP fields (gadget_timestamp), found by fields().
    _stamps: list[str] = field(default_factory=list)
    started: float = field(default_factory=time.monotonic)
    # TIMESTAMPs come from other hosts (the cluster door's agents), whose wall clocks
    # this host's agrees with only to some ms: an event shown happened after the run
    # started, so a relative time that reads below 0 is that disagreement, shown as 0.
    other_clocks: bool = False

    @classmethod
    def from_args(cls, args: Any, err: TextIO) -> Display:
        relative = getattr(args, "relative", False)
        timestamp = getattr(args, "timestamp", None)
        if relative and timestamp not in (None, "relative"):
            raise UsageError(f"-T is --timestamp relative: it contradicts --timestamp {timestamp}")
        # list-containers has no display flags: no summary there.
        summary = getattr(args, "summary", False)
        display = cls(
            mode=args.output.partition("=")[0].strip().lower(),
            header=not getattr(args, "no_header", False),
            max_events=getattr(args, "max_events", 0),
            timestamp="relative" if relative else timestamp or "iso",
            first=relative,
            ready=getattr(args, "ready", False),
            summary=err.isatty() if summary is None else summary,
        )
        if display.ready and display.mode == "columns":
            raise UsageError(
                "--ready is for json and yaml: in columns the header says the gadget is ready"
            )
        return display

    def fields(
        self, fields: tuple[Field, ...], title: str, stamps: Sequence[str] | None = None
    ) -> tuple[Field, ...]:
        """`fields`, TIMESTAMP rendered as asked (relative: to when the gadget attached).
        `stamps` names the TIMESTAMP fields where no renderer says which they are (the
        cluster door's, whose values are the agents' text)."""
        if stamps is None:
            stamps = [f.name for f in fields if f.render == BOOT_CLOCK.iso]
        self._stamps = list(stamps)
        if self.timestamp == "iso":
            return fields
        if not self._stamps:
            raise UsageError(f"{title} has no TIMESTAMP: -T and --timestamp do not apply")
        return tuple(
            _timestamp_field(f, self.timestamp, self) if f.name in self._stamps else f
            for f in fields
        )

    def columns(self, columns: list[str]) -> list[str]:
        """The default columns, TIMESTAMP first with -T (for a gadget that has one)."""
        if self.first and self._stamps and self._stamps[0] not in columns:
            return [self._stamps[0], *columns]
        return columns

    def attached(self, out: TextIO, title: str, since: int | None = None) -> None:
        """The gadget is attached: relative timestamps count from now (or from `since`,
        boot-clock ns: when the nodes were asked to start theirs); the ready record."""
        self.start_ns = time.clock_gettime_ns(time.CLOCK_BOOTTIME) if since is None else since
        if not self.ready:
            return
        record = {"type": "ready", "gadget": title}
        if self.mode == "yaml":
            out.write(f"---\ntype: ready\ngadget: {title}\n")
        else:
            out.write(json.dumps(record, indent=2 if self.mode == "jsonpretty" else None) + "\n")
        out.flush()

    def take(self, events: list[Event]) -> tuple[list[Event], bool]:
        """(the events of a batch to show, whether the run has shown enough with them)."""
        if self.max_events:
            events = events[: self.max_events - self.shown]
        self.shown += len(events)
        return events, bool(self.max_events) and self.shown >= self.max_events

    def write_summary(self, err: TextIO, received: int, lost: int) -> None:
        if not self.summary:
            return
        seconds = time.monotonic() - self.started
        err.write(
            f"espia: {received} events received, {self.shown} shown, {lost} lost "
            f"in {seconds:.1f} s\n"
        )
        err.flush()
