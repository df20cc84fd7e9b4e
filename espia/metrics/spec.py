"""Metric declarations: which counters and histograms a gadget's events feed.

A set is one gadget and its metrics, written in YAML (the built-in sets in
``sets/`` are written exactly as a user would write one)::

    gadget: trace dns
    metrics:
      - name: espia_dns_queries_total
        help: DNS queries sent
        where: qr:Q,type:OUTGOING            # -F syntax: which events count
        labels: [k8s.namespace, k8s.pod, nameserver, qtype]
      - name: espia_dns_latency_seconds
        type: histogram
        field: latency                       # the numeric field observed
        scale: 1e-9                          # ns -> s
        buckets: [0.001, 0.01, 0.1, 1]
        labels: {pod: k8s.pod, server: nameserver}   # label name: field

A label given as a bare field is named after the field's last part
(``k8s.pod`` -> ``pod``).  ``max_series`` caps a metric's label sets: past it,
events count in one series whose labels all read ``__overflow__``, and
``espia_metrics_overflow_events_total{metric=...}`` says how many did.

Everything is checked here, before a gadget loads: names against
Prometheus' rules, keys against the ones above; fields and filters are
checked against the gadget's fields when it is prepared.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from espia.errors import UsageError

SETS_DIR = Path(__file__).parent / "sets"
DEFAULT_MAX_SERIES = 1000
# 9464: the port OpenMetrics/Prometheus exporters of this kind conventionally take.
DEFAULT_LISTEN = "127.0.0.1:9464"
OVERFLOW = "__overflow__"
# Prometheus' own defaults (seconds), for a histogram that names none.
DEFAULT_BUCKETS: tuple[float, ...] = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)

_METRIC_NAME = re.compile(r"[a-zA-Z_:][a-zA-Z0-9_:]*")
_LABEL_NAME = re.compile(r"[a-zA-Z_][a-zA-Z0-9_]*")
_KINDS = ("counter", "histogram")
_METRIC_KEYS = {
    "name",
    "help",
    "type",
    "where",
    "labels",
    "field",
    "scale",
    "buckets",
    "max_series",
}
# Labels espia adds to its own metrics, which a user's could not share.
RESERVED_LABELS = frozenset({"le", "metric", "gadget"})


@dataclass(frozen=True)
class MetricSpec:
    """One counter or histogram of a set (see the module)."""

    name: str
    kind: str  # "counter" or "histogram"
    help: str
    where: str = ""
    # (label name, field name) pairs, in the order of the exposition.
    labels: tuple[tuple[str, str], ...] = ()
    field: str = ""
    scale: float = 1.0
    buckets: tuple[float, ...] = DEFAULT_BUCKETS
    max_series: int = DEFAULT_MAX_SERIES


@dataclass(frozen=True)
class MetricSet:
    """A gadget (``("trace", "dns")``) and the metrics its events feed."""

    gadget: tuple[str, str]
    metrics: tuple[MetricSpec, ...]
    source: str = ""  # where it was declared, for errors

    @property
    def title(self) -> str:
        return " ".join(self.gadget)


def _fail(source: str, message: str) -> UsageError:
    return UsageError(f"metrics {source}: {message}")


def label_name(field: str) -> str:
    """The label a bare field gets: "k8s.pod" -> "pod", "errname" -> "errname"."""
    return field.rsplit(".", 1)[-1].lower()


def _labels(raw: object, where: str) -> tuple[tuple[str, str], ...]:
    if raw is None:
        return ()
    if isinstance(raw, str):
        raw = [part for part in raw.split(",") if part.strip()]
    pairs: list[tuple[str, str]]
    if isinstance(raw, Mapping):
        pairs = [(str(k), str(v)) for k, v in raw.items()]
    elif isinstance(raw, Sequence) and all(isinstance(x, str) for x in raw):
        pairs = []
        for item in raw:
            label, sep, field = item.strip().partition("=")
            pairs.append((label, field) if sep else (label_name(label), label))
    else:
        raise _fail(where, f"labels {raw!r}: a list of fields or a mapping label: field")
    seen: set[str] = set()
    for label, field in pairs:
        if not _LABEL_NAME.fullmatch(label) or label.startswith("__"):
            raise _fail(where, f"{label!r} is not a label name (letters, digits, _)")
        if label in RESERVED_LABELS or label in seen:
            raise _fail(where, f"label {label!r} is reserved or given twice")
        if not field.strip():
            raise _fail(where, f"label {label!r} names no field")
        seen.add(label)
    return tuple((label, field.strip()) for label, field in pairs)


def _number(raw: object, what: str, where: str) -> float:
    if isinstance(raw, bool) or not isinstance(raw, int | float | str):
        raise _fail(where, f"{what} {raw!r} is not a number")
    try:
        value = float(raw)
    except ValueError:
        raise _fail(where, f"{what} {raw!r} is not a number") from None
    if value != value or value in (float("inf"), float("-inf")):
        raise _fail(where, f"{what} {raw!r} is not a finite number")
    return value


def metric_from(raw: object, where: str, max_series: int = DEFAULT_MAX_SERIES) -> MetricSpec:
    """One metric from its YAML mapping (or the mapping the flags make)."""
    if not isinstance(raw, Mapping):
        raise _fail(where, f"a metric is a mapping with name, type, labels...; got {raw!r}")
    unknown = set(map(str, raw)) - _METRIC_KEYS
    if unknown:
        raise _fail(
            where, f"unknown key {sorted(unknown)[0]!r} (known: {', '.join(sorted(_METRIC_KEYS))})"
        )
    name = str(raw.get("name") or "")
    if not _METRIC_NAME.fullmatch(name):
        raise _fail(where, f"{name!r} is not a metric name (letters, digits, _ and :)")
    where = f"{where}: {name}"
    kind = str(raw.get("type") or "counter")
    if kind not in _KINDS:
        raise _fail(where, f"type {kind!r}: counter or histogram")
    field = str(raw.get("field") or "")
    if (kind == "histogram") != bool(field):
        raise _fail(
            where, "a histogram needs the numeric field it observes (field:), a counter none"
        )
    buckets = DEFAULT_BUCKETS
    if raw.get("buckets") is not None:
        listed = raw["buckets"]
        if kind != "histogram" or not isinstance(listed, Sequence) or isinstance(listed, str):
            raise _fail(where, "buckets: a list of upper bounds, for a histogram")
        buckets = tuple(_number(b, "bucket", where) for b in listed)
        if not buckets or list(buckets) != sorted(set(buckets)):
            raise _fail(where, f"buckets {list(listed)!r}: increasing upper bounds")
    cap = raw.get("max_series", max_series)
    if isinstance(cap, bool) or not isinstance(cap, int) or cap < 1:
        raise _fail(where, f"max_series {cap!r}: a positive number of label sets")
    return MetricSpec(
        name=name,
        kind=kind,
        help=str(raw.get("help") or name),
        where=str(raw.get("where") or ""),
        labels=_labels(raw.get("labels"), where),
        field=field,
        scale=_number(raw.get("scale", 1.0), "scale", where),
        buckets=buckets,
        max_series=cap,
    )


def parse_gadget(text: str, where: str) -> tuple[str, str]:
    """("trace", "dns") for "trace dns" or "trace/dns"."""
    parts = text.replace("/", " ").split()
    if len(parts) != 2:
        raise _fail(where, f"gadget {text!r}: CATEGORY NAME, e.g. 'trace dns'")
    return parts[0], parts[1]


def set_from(raw: object, where: str, max_series: int = DEFAULT_MAX_SERIES) -> MetricSet:
    """A set from its YAML document."""
    if not isinstance(raw, Mapping) or set(map(str, raw)) - {"gadget", "metrics"}:
        raise _fail(where, "expected a mapping with `gadget:` and `metrics:` only")
    metrics = raw.get("metrics")
    if not isinstance(metrics, Sequence) or isinstance(metrics, str) or not metrics:
        raise _fail(where, "metrics: a list of at least one metric")
    gadget = parse_gadget(str(raw.get("gadget") or ""), where)
    specs = tuple(metric_from(m, where, max_series) for m in metrics)
    names = [m.name for m in specs]
    if len(set(names)) != len(names):
        raise _fail(where, "a metric name is declared twice")
    return MetricSet(gadget, specs, where)


def load_file(path: str | Path, max_series: int = DEFAULT_MAX_SERIES) -> MetricSet:
    """The set declared in the YAML file `path`."""
    where = str(path)
    try:
        text = Path(path).read_text()
    except OSError as exc:
        raise _fail(where, f"cannot read: {exc.strerror or exc}") from None
    try:
        raw = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        at = f" at line {mark.line + 1}" if mark is not None else ""
        raise _fail(where, f"not YAML{at}") from None
    return set_from(raw, where, max_series)


def builtin_sets() -> dict[str, Path]:
    """The built-in sets by name ("dns", "tcp")."""
    return {path.stem: path for path in sorted(SETS_DIR.glob("*.yaml"))}


def builtin_set(name: str, max_series: int = DEFAULT_MAX_SERIES) -> MetricSet:
    sets = builtin_sets()
    if name not in sets:
        raise UsageError(f"unknown metric set {name!r}; built-in sets: {', '.join(sets)}")
    return load_file(sets[name], max_series)


def flag_metrics(
    gadget: str,
    counters: Sequence[str],
    histograms: Sequence[str],
    where: str,
    max_series: int,
) -> MetricSet:
    """The set the flags declare: `--counter NAME[:LABELS]`, `--histogram NAME=FIELD[:LABELS]`,
    each optionally ending in `@TERMS` (its filter)."""
    raws: list[dict[str, Any]] = []
    for text, kind in [(c, "counter") for c in counters] + [(h, "histogram") for h in histograms]:
        declared, _, terms = text.partition("@")
        head, _, labels = declared.partition(":")
        name, _, field = head.partition("=")
        if kind == "counter" and field:
            raise _fail(
                where, f"--counter {text!r}: NAME[:LABELS][@TERMS] (a counter observes no field)"
            )
        raws.append(
            {
                "name": name.strip(),
                "type": kind,
                "field": field.strip(),
                "labels": labels,
                "where": terms,
            }
        )
    if not raws:
        raise _fail(where, "--gadget needs at least one --counter or --histogram")
    return set_from({"gadget": gadget, "metrics": raws}, where, max_series)
