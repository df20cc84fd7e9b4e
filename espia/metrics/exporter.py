"""The exporter: gadgets running for their metrics, and an HTTP endpoint serving them.

Each gadget runs once (sets naming the same gadget share its run), in a
thread of its own that counts every batch (espia.metrics.counting); the
HTTP server of prometheus-client answers scrapes in another, rendering the
series through one collector.  Besides the declared metrics, the
exposition says what espia could not count:

- ``espia_gadget_received_events_total{gadget}``: records the kernel handed
  over, and ``espia_gadget_events_total{gadget}`` the events counted (after
  -F; UNANSWERED records included);
- ``espia_gadget_lost_events_total{gadget}``: events the kernel could not
  hand over (the ring buffer was full);
- ``espia_metrics_overflow_events_total{metric}``: events folded into a
  metric's overflow series, and ``espia_metrics_series{metric}`` how many
  series it has.

Everything loads before the endpoint opens, so a bad field, filter or
privilege is reported before anything is served; `close()` stops the
server and unloads every gadget, whatever happened.
"""

from __future__ import annotations

import ipaddress
import threading
from collections.abc import Iterable
from contextlib import ExitStack
from typing import Any

from espia.engine.runtime import GadgetRef, LocalGadgetRun, LocalRuntime
from espia.engine.source import RunOptions
from espia.errors import EspiaError, UsageError
from espia.metrics.counting import GadgetCounts
from espia.metrics.spec import MetricSet


def parse_listen(text: str) -> tuple[str, int]:
    """("127.0.0.1", 9464) for "127.0.0.1:9464", ("::1", 0) for "[::1]:0"."""
    host, sep, port = text.strip().rpartition(":")
    host = host.removeprefix("[").removesuffix("]")
    try:
        ipaddress.ip_address(host)
        number = int(port)
    except ValueError:
        number = -1
    if not sep or not 0 <= number < 65536:
        raise UsageError(f"--listen {text!r}: ADDRESS:PORT, e.g. 127.0.0.1:9464 or [::1]:9464")
    return host, number


def merge_sets(sets: Iterable[MetricSet]) -> list[MetricSet]:
    """One set per gadget; a metric name declared twice is an error."""
    merged: dict[tuple[str, str], MetricSet] = {}
    names: dict[str, str] = {}
    for metric_set in sets:
        for spec in metric_set.metrics:
            if spec.name in names:
                raise UsageError(
                    f"metrics: {spec.name} is declared twice ({names[spec.name]}, "
                    f"{metric_set.source})"
                )
            names[spec.name] = metric_set.source
        known = merged.get(metric_set.gadget)
        merged[metric_set.gadget] = (
            metric_set
            if known is None
            else MetricSet(known.gadget, known.metrics + metric_set.metrics, known.source)
        )
    return list(merged.values())


class _Collector:
    """The series of every gadget, as prometheus-client's metric families."""

    def __init__(self, gadgets: list[GadgetCounts]) -> None:
        self._gadgets = gadgets

    def collect(self) -> list[Any]:
        """The families, built under each gadget's lock (its counting waits meanwhile)."""
        from prometheus_client.core import (
            CounterMetricFamily,
            GaugeMetricFamily,
            HistogramMetricFamily,
        )

        events = CounterMetricFamily(
            "espia_gadget_events", "Events counted into metrics, per gadget", labels=["gadget"]
        )
        received = CounterMetricFamily(
            "espia_gadget_received_events",
            "Records the kernel handed over, per gadget",
            labels=["gadget"],
        )
        lost = CounterMetricFamily(
            "espia_gadget_lost_events",
            "Events the kernel could not hand over (ring buffer full), per gadget",
            labels=["gadget"],
        )
        overflow = CounterMetricFamily(
            "espia_metrics_overflow_events",
            "Events counted in a metric's overflow series (its max_series was reached)",
            labels=["metric"],
        )
        series = GaugeMetricFamily(
            "espia_metrics_series", "Label sets of a metric", labels=["metric"]
        )
        families: list[Any] = []
        for gadget in self._gadgets:
            with gadget.lock:
                events.add_metric([gadget.set.title], gadget.events)
                received.add_metric([gadget.set.title], gadget.received)
                lost.add_metric([gadget.set.title], gadget.lost)
                for metric in gadget:
                    spec = metric.spec
                    label_names = [label for label, _ in spec.labels]
                    overflow.add_metric([spec.name], metric.overflowed)
                    if spec.kind == "counter":
                        series.add_metric([spec.name], len(metric.counts))
                        family: Any = CounterMetricFamily(spec.name, spec.help, labels=label_names)
                        for labels, count in metric.counts.items():
                            family.add_metric(list(labels), count)
                    else:
                        series.add_metric([spec.name], len(metric.histograms))
                        family = HistogramMetricFamily(spec.name, spec.help, labels=label_names)
                        bounds = [*map(repr, spec.buckets), "+Inf"]
                        for labels, histogram in metric.histograms.items():
                            cumulative, running = [], 0
                            for bound, count in zip(bounds, histogram.buckets, strict=True):
                                running += count
                                cumulative.append((bound, running))
                            family.add_metric(list(labels), cumulative, histogram.total)
                    families.append(family)
        return [*families, events, received, lost, overflow, series]


class Exporter:
    """Runs the gadgets of `sets` and serves their metrics at `listen` (see the module)."""

    def __init__(
        self,
        runtime: LocalRuntime,
        sets: Iterable[MetricSet],
        options: RunOptions,
        listen: tuple[str, int],
    ) -> None:
        self._stack = ExitStack()
        self._listen = listen
        self._threads: list[threading.Thread] = []
        self._errors: list[BaseException] = []
        self.runs: list[LocalGadgetRun] = []
        self.gadgets: list[GadgetCounts] = []
        self.address: tuple[str, int] = listen
        try:
            for metric_set in merge_sets(sets):
                run = runtime.run(GadgetRef(*metric_set.gadget), options)
                self._stack.callback(run.close)
                self.runs.append(run)
                self.gadgets.append(GadgetCounts(metric_set, run.event_schema))
        except BaseException:
            self.close()
            raise

    def start(self) -> None:
        """Loads every gadget, then opens the endpoint and starts counting."""
        try:
            for run in self.runs:
                run.start()
            self._serve()
            for run, gadget in zip(self.runs, self.gadgets, strict=True):
                thread = threading.Thread(
                    target=self._count, args=(run, gadget), name=f"espia {gadget.set.title}"
                )
                thread.start()
                self._threads.append(thread)
        except BaseException:
            self.close()
            raise

    def _serve(self) -> None:
        try:
            from prometheus_client import CollectorRegistry, start_http_server
        except ImportError:
            raise EspiaError(
                "metrics need prometheus-client (pip install prometheus-client)"
            ) from None

        registry = CollectorRegistry(auto_describe=False)
        registry.register(_Collector(self.gadgets))  # type: ignore[arg-type]
        host, port = self._listen
        try:
            server, thread = start_http_server(port, host, registry)
        except OSError as exc:
            raise EspiaError(
                f"listen on {host}:{port}: {exc.strerror or exc} (choose another with --listen)"
            ) from None
        self._stack.callback(thread.join, 5)
        self._stack.callback(server.server_close)
        self._stack.callback(server.shutdown)
        bound_host, bound_port = server.server_address[:2]
        self.address = (str(bound_host), int(bound_port))

    def _count(self, run: LocalGadgetRun, gadget: GadgetCounts) -> None:
        try:
            for batch in run.batches():
                gadget.add(batch.events, run.lost, run.received)
            gadget.add([], run.lost, run.received)
        except BaseException as exc:  # reported by wait(), in the main thread
            self._errors.append(exc)
            self.stop()

    @property
    def url(self) -> str:
        host, port = self.address
        return f"http://{f'[{host}]' if ':' in host else host}:{port}/metrics"

    def wait(self) -> None:
        """Until every gadget has ended (its timeout, or `stop()`); a gadget's error is raised."""
        for thread in self._threads:
            while thread.is_alive():
                thread.join(0.25)  # short waits: the main thread must run signal handlers
        if self._errors:
            raise self._errors[0]

    def stop(self) -> None:
        """Ends every gadget after what is in flight; safe from another thread."""
        for run in self.runs:
            run.stop()

    def close(self) -> None:
        """Stops serving and unloads everything; idempotent."""
        self.stop()
        for thread in self._threads:
            thread.join()
        self._threads.clear()
        self._stack.close()

    def __enter__(self) -> Exporter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
