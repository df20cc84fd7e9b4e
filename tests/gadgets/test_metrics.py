"""espia metrics: real workloads counted, scraped by a real Prometheus, queried back exactly."""

from __future__ import annotations

import contextlib
import os
import re
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families
from support.dnsclient import Exchange, ask
from support.netns import Lab
from support.prometheus import PrometheusServer
from support.workloads import EspiaCli, espia

from espia.engine.containers import ContainerSources
from espia.engine.runtime import LocalRuntime
from espia.engine.source import RunOptions
from espia.errors import EspiaError
from espia.metrics.exporter import Exporter
from espia.metrics.spec import builtin_set

A, AAAA = 1, 28
RECORDS = {"www.test.": ["10.9.9.8"], "six.test.": ["fd00:e5b1:99::9"]}

# In the client's namespace: 3 connects to a listener, 2 to a closed port.
CONNECTS = """
import socket
server = socket.socket()
server.bind(("127.0.0.1", 0))
server.listen(8)
closed = socket.socket()
closed.bind(("127.0.0.1", 0))
for port, count in ((server.getsockname()[1], 3), (closed.getsockname()[1], 2)):
    for _ in range(count):
        s = socket.socket()
        try:
            s.connect(("127.0.0.1", port))
        except ConnectionRefusedError:
            pass
        s.close()
print("done")
"""


def start_metrics(*args: str) -> tuple[EspiaCli, str]:
    """`espia metrics ARGS` on a free loopback port, once it serves; (process, host:port)."""
    cli = EspiaCli(["metrics", "--listen", "127.0.0.1:0", *args])
    line = cli.wait_for(lambda text: text.startswith("serving "), timeout=60)
    found = re.search(r"http://(127\.0\.0\.1:\d+)/metrics", line)
    assert found, line
    return cli, found.group(1)


def only_runtime_warnings(stderr: str) -> bool:
    """Nothing on stderr but warnings about container runtimes (which other tests on this
    machine start and stop)."""
    return all(line.startswith("espia: warning: ") for line in stderr.splitlines())


def scrape(target: str) -> dict[str, dict[tuple[tuple[str, str], ...], float]]:
    """The exposition, parsed: {sample name: {sorted labels: value}}."""
    with urllib.request.urlopen(f"http://{target}/metrics", timeout=5) as answer:
        text = answer.read().decode()
    samples: dict[str, dict[tuple[tuple[str, str], ...], float]] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            key = tuple(sorted(sample.labels.items()))
            samples.setdefault(sample.name, {})[key] = sample.value
    return samples


def test_dns_and_tcp_counts_reach_prometheus_exactly(lab: Lab, tmp_path: Path):
    client, server, quiet = lab.netns("client"), lab.netns("server"), lab.netns("quiet")
    link, silent = lab.link(client, server), lab.link(client, quiet)
    lab.dnsmasq(server, RECORDS, link.peer4)
    lab.silent_server(quiet, silent.peer4)
    cli, target = start_metrics("dns", "tcp", "-F", f"netns:{client.inode}")
    with PrometheusServer(tmp_path, target) as prom:
        prom.wait(prom.targets_up)
        ask(
            client,
            [
                *(Exchange(link.peer4, "www.test.", A, ident=i) for i in (1, 2, 3)),
                *(Exchange(link.peer4, "nope.test.", A, ident=i) for i in (4, 5)),
                Exchange(link.peer4, "six.test.", AAAA, ident=6),
                Exchange(silent.peer4, "www.test.", A, ident=7, wait=0.2),
            ],
        )
        assert "done" in client.run("python3", "-c", CONNECTS).stdout
        # The unanswered query is given up 5 s after it was sent.
        prom.wait(lambda: prom.value("sum(espia_dns_unanswered_total)") == 1.0)
        prom.wait(lambda: prom.value("sum(espia_tcp_connects_total)") == 5.0)

        queries = prom.by(
            "sum by (nameserver, qtype) (espia_dns_queries_total)", "nameserver", "qtype"
        )
        assert queries == {(link.peer4, "A"): 5, (link.peer4, "AAAA"): 1, (silent.peer4, "A"): 1}
        responses = prom.by(
            "sum by (nameserver, rcode) (espia_dns_responses_total)", "nameserver", "rcode"
        )
        assert responses == {(link.peer4, "NOERROR"): 4, (link.peer4, "NXDOMAIN"): 2}
        assert prom.by("espia_dns_unanswered_total", "nameserver", "qtype", "pod") == {
            (silent.peer4, "A", ""): 1
        }
        latency = prom.by("espia_dns_latency_seconds_count", "nameserver")
        assert latency == {(link.peer4,): 6}
        # Every answer over veth takes well under a second, more than nothing.
        assert prom.value('espia_dns_latency_seconds_bucket{le="1.0"}') == 6
        assert 0 < prom.value("espia_dns_latency_seconds_sum") < 1  # type: ignore[operator]
        assert prom.by("espia_tcp_connect_failures_total", "errno") == {("ECONNREFUSED",): 2}
        # 7 queries and 6 responses from the kernel (the netns term is applied there); the
        # UNANSWERED record is made in espia.
        assert prom.value('espia_gadget_received_events_total{gadget="trace dns"}') == 13
        assert prom.value('espia_gadget_events_total{gadget="trace dns"}') == 14
        lost = prom.by("espia_gadget_lost_events_total", "gadget")
        assert lost == {("trace dns",): 0, ("trace tcp",): 0}
    cli.proc.terminate()
    code, _, stderr = cli.finish()
    assert code == 0 and only_runtime_warnings(stderr), stderr


def test_series_are_capped_with_an_overflow_series_and_hostile_names_escaped(lab: Lab):
    client, server = lab.netns("client"), lab.netns("server")
    link = lab.link(client, server)
    lab.dnsmasq(server, RECORDS, link.peer4)
    cli, target = start_metrics(
        "--gadget",
        "trace dns",
        "--counter",
        "espia_test_names_total:name@qr:Q,type:OUTGOING",
        "--histogram",
        "espia_test_size_bytes=size:qname=name@qr:R,type:HOST",
        "--max-series",
        "3",
        "-F",
        f"netns:{client.inode}",
    )
    names = ['a"b\nc.test.', "b\\x41.test.", "c.test.", "d.test.", "e.test."]
    ask(client, [Exchange(link.peer4, name, A, ident=i) for i, name in enumerate(names)])

    def counted() -> float:
        return sum(scrape(target).get("espia_test_names_total", {}).values())

    deadline = time.monotonic() + 20
    while counted() < 5 and time.monotonic() < deadline:
        time.sleep(0.2)
    samples = scrape(target)
    # The label text is the column's: the newline and the (presentation-escaped) backslash
    # shown as escapes, so that no name can end a label or forge another.
    shown = ['a"b\\nc.test.', "b" + "\\" * 4 + "x41.test.", "c.test."]
    overflow = (("name", "__overflow__"),)
    assert samples["espia_test_names_total"] == {
        **{(("name", name),): 1 for name in shown},
        overflow: 2,
    }
    sizes = samples["espia_test_size_bytes_count"]
    assert sizes == {**{(("qname", name),): 1 for name in shown}, (("qname", "__overflow__"),): 2}
    assert samples["espia_metrics_overflow_events_total"] == {
        (("metric", "espia_test_names_total"),): 2,
        (("metric", "espia_test_size_bytes"),): 2,
    }
    assert samples["espia_metrics_series"] == {
        (("metric", "espia_test_names_total"),): 4,
        (("metric", "espia_test_size_bytes"),): 4,
    }
    cli.proc.terminate()
    code, _, stderr = cli.finish()
    assert code == 0 and only_runtime_warnings(stderr), stderr


def test_metric_declarations_are_checked_before_anything_loads(tmp_path: Path):
    bad = tmp_path / "bad.yaml"
    cases = {
        "gadget: trace dns\nmetrics:\n  - name: x\n    labels: [nosuchfield]\n": (
            "trace dns has no field 'nosuchfield'"
        ),
        "gadget: trace dns\nmetrics:\n  - name: 9x\n": "'9x' is not a metric name",
        "gadget: trace dns\nmetrics:\n  - name: x\n    type: histogram\n    field: qtype\n": (
            "qtype is not a number"
        ),
        "gadget: trace dns\nmetrics:\n  - name: x\n    where: 'rcode:~('\n": "x: ",
        "gadget: trace nope\nmetrics:\n  - name: x\n": "unknown gadget",
        "gadget: trace dns\nmetrics:\n  - name: x\n    colour: red\n": "unknown key 'colour'",
        "gadget: trace dns\nmetrics: [\n": "not YAML",
    }
    for text, message in cases.items():
        bad.write_text(text)
        done = espia("metrics", "-f", str(bad), "--listen", "127.0.0.1:0")
        assert done.returncode == 2, (text, done.stderr)
        assert done.stderr.startswith("espia: metrics") or "unknown gadget" in done.stderr
        assert message in done.stderr and "Traceback" not in done.stderr, (text, done.stderr)
        assert done.stderr.count("\n") == 1
    for args, message in (
        (["nosuch"], "unknown metric set 'nosuch'"),
        (["dns", "--listen", "localhost"], "--listen 'localhost': ADDRESS:PORT"),
        (["--counter", "x"], "need --gadget"),
        (["dns", "dns"], "espia_dns_queries_total is declared twice"),
    ):
        done = espia("metrics", *args)
        assert (done.returncode, message in done.stderr) == (2, True), done.stderr


def bpf_descriptors() -> list[str]:
    """This process's descriptors of eBPF programs, maps and links."""
    found = []
    for fd in os.listdir("/proc/self/fd"):
        with contextlib.suppress(OSError):
            target = os.readlink(f"/proc/self/fd/{fd}")
            if target.startswith("anon_inode:bpf"):
                found.append(target)
    return sorted(found)


def test_the_exporter_unloads_everything_when_it_ends_or_cannot_listen():
    runtime = LocalRuntime(ContainerSources())
    sets = [builtin_set("dns"), builtin_set("tcp")]
    before = bpf_descriptors()
    with Exporter(runtime, sets, RunOptions(timeout=0.5), ("127.0.0.1", 0)) as exporter:
        exporter.start()
        assert len(bpf_descriptors()) > len(before)
        exporter.wait()
    assert bpf_descriptors() == before
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        exporter = Exporter(runtime, sets, RunOptions(), ("127.0.0.1", port))
        with pytest.raises(EspiaError, match=rf"listen on 127.0.0.1:{port}: .*--listen"):
            exporter.start()
    assert bpf_descriptors() == before


def test_without_prometheus_client_it_says_what_to_install():
    code = (
        "import sys\n"
        "sys.modules['prometheus_client'] = None  # as if it were not installed\n"
        "from espia.cli.main import main\n"
        "sys.exit(main(['metrics', 'tcp', '--listen', '127.0.0.1:0']))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert (done.returncode, done.stdout) == (1, "")
    assert done.stderr == (
        "espia: metrics need prometheus-client (pip install prometheus-client)\n"
    )
