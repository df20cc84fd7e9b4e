"""Counting events into series: the per-batch work of an exporter.

Each metric is compiled once against its gadget's fields: its filter is a
generated predicate (the -F compiler's), its labels one generated function
returning the tuple of label texts (the text a column shows, escaped the
same way, so a hostile name cannot forge a label or break the exposition).
A batch then costs, per metric, one predicate call and one label call per
event and a dict update; prometheus-client is never called per event
(its ``labels().inc()`` takes a lock and hashes the labels each time).

Series are capped per metric (``max_series``): a label set first seen when
the metric already has that many goes to the overflow series, every label
``__overflow__``, and the events it took are counted in ``overflowed``.
A histogram keeps, per series, the count per bucket (not cumulative), the
sum and the count.

The exporter's scrape thread reads the series while the gadget's thread
adds to them: both hold :attr:`GadgetCounts.lock`, once per batch and once
per scrape.
"""

from __future__ import annotations

import threading
from bisect import bisect_left
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from espia._codegen import access, compile_function
from espia.errors import UsageError
from espia.gadget.event import Event
from espia.gadget.fields import ValueKind
from espia.gadget.schema import EventSchema
from espia.metrics.spec import OVERFLOW, MetricSet, MetricSpec
from espia.output._text import escape_control
from espia.output.columns import cell
from espia.pipeline.filter import compile_filter

Labels = tuple[str, ...]


@dataclass
class Histogram:
    """One series of a histogram: counts per bucket (the last is +Inf), sum, count."""

    buckets: list[int]
    total: float = 0.0
    count: int = 0


@dataclass
class MetricSeries:
    """A compiled metric and its series (see the module)."""

    spec: MetricSpec
    keep: Callable[[Event], bool] | None
    labels_of: Callable[[Event], Labels]
    value_of: Callable[[Event], Any] | None
    counts: dict[Labels, int] = field(default_factory=dict)
    histograms: dict[Labels, Histogram] = field(default_factory=dict)
    overflowed: int = 0

    @property
    def overflow(self) -> Labels:
        return (OVERFLOW,) * len(self.spec.labels)

    def _series(self, labels: Labels, table: dict[Labels, Any]) -> Labels:
        """`labels`, or the overflow series when the metric is full (counted)."""
        if labels in table or len(table) < self.spec.max_series:
            return labels
        self.overflowed += 1
        return self.overflow

    def add(self, events: list[Event]) -> None:
        keep, labels_of = self.keep, self.labels_of
        chosen = events if keep is None else [e for e in events if keep(e)]
        if not chosen:
            return
        if self.value_of is None:
            counts = self.counts
            for event in chosen:
                labels = labels_of(event)
                if labels not in counts:
                    labels = self._series(labels, counts)
                counts[labels] = counts.get(labels, 0) + 1
            return
        value_of, scale, bounds = self.value_of, self.spec.scale, self.spec.buckets
        histograms = self.histograms
        for event in chosen:
            labels = labels_of(event)
            series = histograms.get(labels)
            if series is None:
                labels = self._series(labels, histograms)
                series = histograms.get(labels)
                if series is None:
                    series = histograms[labels] = Histogram([0] * (len(bounds) + 1))
            value = value_of(event) * scale
            # A bucket counts values <= its bound: bisect_left finds the first bound >= value.
            series.buckets[bisect_left(bounds, value)] += 1
            series.total += value
            series.count += 1


def _labels_function(schema: EventSchema, spec: MetricSpec) -> Callable[[Event], Labels]:
    if not spec.labels:
        return lambda event: ()
    scope: dict[str, object] = {"_escape": escape_control}
    values = []
    for index, (_label, name) in enumerate(spec.labels):
        conversion, value = cell(schema.field(name), index, scope, last=True)
        values.append(f"{value!s}" if conversion == "%s" else f"str({value})")
    source = f"def labels(e):\n    return ({', '.join(values)},)\n"
    function: Callable[[Event], Labels] = compile_function(
        "labels", source, scope, label=f"{schema.spec.title} metric {spec.name} labels"
    )
    return function


def _value_function(schema: EventSchema, spec: MetricSpec) -> Callable[[Event], Any]:
    observed = schema.field(spec.field)
    if observed.kind is not ValueKind.INT:
        raise UsageError(f"{observed.name} is not a number, a histogram cannot observe it")
    function: Callable[[Event], Any] = compile_function(
        "value",
        f"def value(e):\n    return {access(observed.path)}\n",
        {},
        label=f"{schema.spec.title} metric {spec.name} value",
    )
    return function


def compile_metric(schema: EventSchema, spec: MetricSpec) -> MetricSeries:
    """`spec` against `schema`'s fields: unknown fields and bad filters fail here."""
    try:
        keep = compile_filter(spec.where, schema).predicate if spec.where else None
        value = _value_function(schema, spec) if spec.kind == "histogram" else None
        return MetricSeries(spec, keep, _labels_function(schema, spec), value)
    except UsageError as exc:
        raise UsageError(f"metrics: {spec.name}: {exc}") from None


class GadgetCounts:
    """All the metrics one gadget's events feed, and what the gadget lost."""

    def __init__(self, metric_set: MetricSet, schema: EventSchema) -> None:
        self.set = metric_set
        self.metrics = [compile_metric(schema, spec) for spec in metric_set.metrics]
        self.lock = threading.Lock()
        self.events = 0
        self.received = 0
        self.lost = 0

    def add(self, events: list[Event], lost_total: int, received_total: int = 0) -> None:
        """Counts `events`; the totals are the run's so far (records the kernel handed
        over, and could not)."""
        with self.lock:
            self.events += len(events)
            self.lost = lost_total
            self.received = max(self.received, received_total)
            for metric in self.metrics:
                metric.add(events)

    def __iter__(self) -> Iterator[MetricSeries]:
        return iter(self.metrics)
