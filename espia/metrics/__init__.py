"""Gadgets' events as Prometheus metrics.

    sets = [builtin_set("dns"), load_file("mine.yaml")]
    with Exporter(runtime, sets, listen=("127.0.0.1", 9464)) as exporter:
        exporter.run()           # until stop() (Ctrl-C), serving /metrics

A :class:`~espia.metrics.spec.MetricSet` says, for one gadget, which
counters and histograms its events feed: each metric has a filter (the -F
syntax), label fields and, for a histogram, the numeric field it observes.
Sets come from small YAML files (the built-in ``dns`` and ``tcp`` sets are
such files, in ``sets/``) or from flags.  Counting is done by espia
(:mod:`espia.metrics.counting`), a batch at a time, not by prometheus-client
per event: the client library only renders the exposition, so it is
imported when an exporter starts, not before.
"""

from espia.metrics.spec import MetricSet, MetricSpec, builtin_set, builtin_sets, load_file

__all__ = ["MetricSet", "MetricSpec", "builtin_set", "builtin_sets", "load_file"]
