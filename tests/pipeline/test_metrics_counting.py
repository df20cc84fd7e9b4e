"""Metric counting on injected events: filters, label texts, histogram buckets, the cap."""

from __future__ import annotations

import pytest
from support.schemas import event, schema

from espia.errors import UsageError
from espia.metrics.counting import GadgetCounts, compile_metric
from espia.metrics.spec import MetricSet, builtin_set, builtin_sets, metric_from


@pytest.fixture(scope="module")
def opens():
    return schema(pid="gadget_pid", comm="gadget_comm", err="gadget_errno", size="int")


def spec(**raw: object):
    return metric_from({"name": "m", **raw}, "test")


def test_counter_by_rendered_labels_of_the_filtered_events(opens):
    metric = compile_metric(opens, spec(labels="comm,errno=errname", where="err:!0"))
    metric.add(
        [
            event(opens, pid=1, comm="cat", err=2, size=0),
            event(opens, pid=1, comm="cat", err=2, size=0),
            event(opens, pid=2, comm="ls", err=13, size=0),
            event(opens, pid=3, comm="ls", err=0, size=0),
        ]
    )
    assert metric.counts == {("cat", "ENOENT"): 2, ("ls", "EACCES"): 1}


def test_hostile_label_text_is_escaped_as_columns_show_it(opens):
    metric = compile_metric(opens, spec(labels=["comm"]))
    metric.add([event(opens, pid=1, comm='a"\n\x1b\\\udcff', err=0, size=0)])
    assert list(metric.counts) == [('a"\\n\\x1b\\\\\\xff',)]


def test_histogram_buckets_count_values_up_to_their_bound(opens):
    metric = compile_metric(
        opens, spec(type="histogram", field="size", scale=0.5, buckets=[1, 2], labels=["comm"])
    )
    # Scaled: 0.5, 1.0 (on the bound: in it), 1.5, 2.0, 3.0 (above every bound: +Inf).
    metric.add([event(opens, pid=1, comm="c", err=0, size=s) for s in (1, 2, 3, 4, 6)])
    series = metric.histograms[("c",)]
    assert (series.buckets, series.count, series.total) == ([2, 2, 1], 5, 8.0)


def test_series_past_the_cap_go_to_the_overflow_series_and_are_counted(opens):
    counts = GadgetCounts(
        MetricSet(("trace", "made"), (spec(labels=["pid"], max_series=2),)), opens
    )
    counts.add([event(opens, pid=p, comm="c", err=0, size=0) for p in (1, 2, 3, 1, 4, 3)], 7)
    (metric,) = counts
    assert metric.counts == {("1",): 2, ("2",): 1, ("__overflow__",): 3}
    assert (metric.overflowed, counts.events, counts.lost) == (3, 6, 7)


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ({"labels": ["nosuch"]}, "made has no field 'nosuch'"),
        ({"type": "histogram", "field": "comm"}, "comm is not a number"),
        ({"where": "pid:~("}, "bad regex"),
    ],
)
def test_bad_fields_and_filters_name_the_metric(opens, raw, message):
    with pytest.raises(UsageError, match=r"metrics: m: .*") as error:
        compile_metric(opens, spec(**raw))
    assert message in str(error.value)


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ({"labels": ["le"]}, "label 'le' is reserved"),
        ({"labels": ["a=pid", "a=comm"]}, "label 'a' is reserved or given twice"),
        ({"labels": ["__x=pid"]}, "'__x' is not a label name"),
        ({"type": "gauge"}, "type 'gauge': counter or histogram"),
        ({"type": "histogram"}, "a histogram needs the numeric field it observes"),
        ({"type": "histogram", "field": "size", "buckets": [2, 1]}, "increasing upper bounds"),
        ({"max_series": 0}, "max_series 0"),
        ({"scale": "x"}, "scale 'x' is not a number"),
    ],
)
def test_declarations_are_checked(raw, message):
    with pytest.raises(UsageError, match="metrics test"):
        spec(**raw)
    try:
        spec(**raw)
    except UsageError as exc:
        assert message in str(exc)


def test_builtin_sets_load():
    assert set(builtin_sets()) == {"dns", "tcp"}
    dns = builtin_set("dns", max_series=5)
    assert dns.gadget == ("trace", "dns")
    assert [m.name for m in dns.metrics] == [
        "espia_dns_queries_total",
        "espia_dns_responses_total",
        "espia_dns_unanswered_total",
        "espia_dns_latency_seconds",
    ]
    assert {m.max_series for m in dns.metrics} == {5}
    assert dns.metrics[0].labels == (
        ("namespace", "k8s.namespace"),
        ("pod", "k8s.pod"),
        ("nameserver", "nameserver"),
        ("qtype", "qtype"),
    )
