"""Histograms: the output of a gadget whose rows are the buckets of log2 histograms.

Each row of an interval is one bucket of one histogram: gadget.yaml's
``histogram:`` names the bucket field (its log2 bucket number: bucket 0
holds 0 and 1, bucket i holds 2**i to 2**(i+1) - 1) and the count field;
the other fields (a device, a container) say which histogram.  Per interval:

- columns: a timestamp line, then per histogram a line naming it (the
  chosen columns, ``MAJOR 7 MINOR 0``) and its buckets with bars, as
  biolatency prints them, from bucket 0 to the highest one counted;
- JSON: one list per interval, an object per histogram with its fields and
  ``buckets``: ``[{"low": 0, "high": 1, "count": 3}, ...]``, every bucket
  from 0 to the highest one counted, empty ones included.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from operator import attrgetter
from typing import Any, TextIO

from espia.errors import UsageError
from espia.gadget.event import Event
from espia.gadget.fields import Field, ValueKind
from espia.output._text import escape_control
from espia.output.columns import find_column, select_columns
from espia.output.interval import table_full_message, timestamp

BAR_WIDTH = 40


@dataclass(frozen=True)
class Histogram:
    """Which fields hold the bucket and the count, and the unit of the values."""

    bucket: str
    count: str
    unit: str = ""


def bounds(bucket: int) -> tuple[int, int]:
    """(lowest, highest) value of log2 bucket `bucket` (interval.bpf.h)."""
    return (0, 1) if bucket == 0 else (1 << bucket, (1 << (bucket + 1)) - 1)


class HistogramOutput:
    """Writes each interval's buckets as histograms (see the module)."""

    def __init__(
        self,
        mode: str,
        fields: tuple[Field, ...],
        default_columns: list[str],
        histogram: Histogram,
        out: TextIO,
        err: TextIO,
        clock: Callable[[], str] = timestamp,
    ) -> None:
        self.out = out
        self.err = err
        self._clock = clock
        self._unit = histogram.unit or "value"
        name, _, columns = mode.partition("=")
        self._json = name.strip().lower() in ("json", "jsonpretty")
        self._indent = 2 if name.strip().lower() == "jsonpretty" else None
        if not self._json and name.strip().lower() != "columns":
            raise UsageError(f"output {mode!r}: a histogram is shown as columns or json")
        bucket, count = find_column(fields, histogram.bucket), find_column(fields, histogram.count)
        self._bucket = attrgetter(".".join(bucket.path))
        self._count = attrgetter(".".join(count.path))
        own = (bucket, count)
        if self._json:
            label = [f for f in fields if f not in own]
        else:
            label = [f for f in select_columns(fields, default_columns, columns) if f not in own]
        self._label = [(f, attrgetter(".".join(f.path))) for f in label]

    def begin(self) -> None:
        pass

    def _groups(self, events: list[Event]) -> list[tuple[list[Any], dict[int, int]]]:
        """(the label's raw values, {bucket: count}) per histogram, in the labels' order.

        Grouped by the labels' text: raw values may be unhashable (pod labels).
        """
        groups: dict[tuple[str, ...], tuple[list[Any], dict[int, int]]] = {}
        for event in events:
            raws = [get(event) for _, get in self._label]
            key = tuple(field.text(raw) for (field, _), raw in zip(self._label, raws, strict=True))
            counts = groups.setdefault(key, (raws, {}))[1]
            bucket = self._bucket(event)
            counts[bucket] = counts.get(bucket, 0) + self._count(event)
        return [groups[key] for key in sorted(groups)]

    def write(self, events: list[Event]) -> None:
        groups = self._groups(events)
        if self._json:
            listed = [self._json_group(raws, counts) for raws, counts in groups]
            self.out.write(json.dumps(listed, indent=self._indent) + "\n")
        else:
            text = [self._clock() + "\n"]
            for raws, counts in groups:
                text.append(self._text_group(raws, counts))
            self.out.write("".join(text) + "\n")
        self.out.flush()

    def _json_group(self, key: list[Any], counts: dict[int, int]) -> dict[str, Any]:
        group: dict[str, Any] = {}
        for (field, _), raw in zip(self._label, key, strict=True):
            node = group
            *parents, leaf = field.name.split(".")
            for parent in parents:
                node = node.setdefault(parent, {})
            value: Any = field.text(raw) if field.json_text else raw
            node[leaf] = dict(value) if field.kind is ValueKind.MAP else value
        group["unit"] = self._unit
        group["buckets"] = [
            {"low": bounds(b)[0], "high": bounds(b)[1], "count": counts.get(b, 0)}
            for b in range(max(counts) + 1)
        ]
        return group

    def _text_group(self, key: list[Any], counts: dict[int, int]) -> str:
        named = []
        for (field, _), raw in zip(self._label, key, strict=True):
            value = field.text(raw)
            named.append(f"{field.header} {escape_control(value) if field.untrusted else value}")
        lines = ["\n" + " ".join(v for v in named if not v.endswith(" ")) + "\n"]
        lines.append(f"{self._unit:>10}{'':14} : count    distribution\n")
        peak = max(counts.values()) or 1
        for bucket in range(max(counts) + 1):
            low, high = bounds(bucket)
            count = counts.get(bucket, 0)
            stars = "*" * (count * BAR_WIDTH // peak)
            lines.append(f"{low:>10} -> {high:<10} : {count:<8} |{stars:<{BAR_WIDTH}}|\n")
        return "".join(lines)

    def lost(self, count: int, total: int, node: str = "") -> None:
        self.err.write(table_full_message(count, total, node) + "\n")
        self.err.flush()

    def end(self) -> None:
        self.out.flush()
