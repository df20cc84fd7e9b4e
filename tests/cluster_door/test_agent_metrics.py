"""`espia agent --metrics dns`: the agent, as the DaemonSet runs it, also serves metrics."""

from __future__ import annotations

import re
import time
import urllib.request

from prometheus_client.parser import text_string_to_metric_families
from support.dnsclient import Exchange, ask
from support.netns import Lab

from cluster_door.agents import AgentProcess

# A question type no other workload on this machine asks (others may use the same test
# addresses in namespaces of their own).
CAA = 257


def dns_counts(url: str, nameserver: str) -> dict[str, float]:
    """{sample name: value summed over the CAA series of `nameserver`}."""
    with urllib.request.urlopen(url, timeout=5) as answer:
        text = answer.read().decode()
    sums: dict[str, float] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            labels = sample.labels
            if labels.get("nameserver") == nameserver and labels.get("qtype") == "CAA":
                sums[sample.name] = sums.get(sample.name, 0) + sample.value
    return sums


def test_the_agent_serves_metrics_of_its_node_when_asked():
    with Lab() as lab:
        client, server = lab.netns("client"), lab.netns("server")
        link = lab.link(client, server)
        lab.dnsmasq(server, {"www.test.": ["10.9.9.9"]}, link.peer4)
        agent = AgentProcess("node-m", "--metrics", "dns", "--metrics-listen", "127.0.0.1:0")
        try:
            # Served before the agent says it listens: the endpoint is up by then.
            (url,) = re.findall(r"serving metrics on (http://\S+)", "".join(agent.stderr))
            ask(client, [Exchange(link.peer4, name, CAA, ident=i) for i, name in (
                (1, "www.test."), (2, "www.test."), (3, "nope.test."),
            )])  # fmt: skip
            deadline = time.monotonic() + 20
            counts = dns_counts(url, link.peer4)
            while counts.get("espia_dns_responses_total", 0) < 3:
                assert time.monotonic() < deadline, counts
                time.sleep(0.2)
                counts = dns_counts(url, link.peer4)
            time.sleep(1)  # nothing more comes
            assert dns_counts(url, link.peer4) == {
                "espia_dns_queries_total": 3,
                "espia_dns_responses_total": 3,
            }
        finally:
            code = agent.stop()
        assert code == 0, "".join(agent.stderr)
