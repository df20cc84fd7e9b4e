"""`kubectl espia deploy --metrics dns` on the real cluster: each agent serves its node's pods'
DNS for Prometheus, on the pod port the DaemonSet declares."""

from __future__ import annotations

import re
import subprocess
import time
import urllib.request

import pytest
from prometheus_client.parser import text_string_to_metric_families

from cluster.kube import KUBECONFIG
from cluster.test_cluster_door import (  # noqa: F401 (door: a fixture)
    IMAGE,
    NAMESPACE,
    SILENT_NAMESERVER,
    door,
    espia,
    kubectl,
    pod,
)


def series(url: str, name: str) -> dict[tuple[str, str, str, str], float]:
    """{(namespace, pod, nameserver, qtype): value} of metric `name`."""
    with urllib.request.urlopen(url, timeout=5) as answer:
        text = answer.read().decode()
    found = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == name:
                labels = sample.labels
                key = (labels["namespace"], labels["pod"], labels["nameserver"], labels["qtype"])
                found[key] = sample.value
    return found


@pytest.mark.usefixtures("door")
def test_deployed_agents_serve_the_dns_metrics_of_their_nodes_pods():
    result = espia(
        "deploy", "--image", IMAGE, "--image-pull-policy", "Never",
        "--metrics", "dns", "--wait", "--timeout", "150",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    agent = kubectl(
        "get", "pods", "-n", "espia", "-l", "app.kubernetes.io/name=espia",
        "--field-selector", "spec.nodeName=node1", "-o", "name",
    ).split()  # fmt: skip
    assert len(agent) == 1, agent
    forward = subprocess.Popen(
        ["kubectl", "--kubeconfig", str(KUBECONFIG), "port-forward", "-n", "espia", agent[0],
         ":9464"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert forward.stdout is not None
        port = re.search(r"127\.0\.0\.1:(\d+)", forward.stdout.readline())
        assert port, forward.stderr.read() if forward.stderr else ""
        url = f"http://127.0.0.1:{port.group(1)}/metrics"
        pod("metered", "node1", "sleep 2; nslookup -timeout=2 metered.example.test; sleep 600",
            dns=SILENT_NAMESERVER)  # fmt: skip
        mine = (NAMESPACE, "metered", SILENT_NAMESERVER)
        deadline = time.monotonic() + 60

        # Given up 5 s after it was sent: one UNANSWERED per question asked (busybox asks A,
        # and AAAA after it), retransmissions or not.
        def unanswered() -> dict[str, float]:
            found = series(url, "espia_dns_unanswered_total")
            return {key[3]: value for key, value in found.items() if key[:3] == mine}

        while unanswered().get("A") != 1:
            assert time.monotonic() < deadline, series(url, "espia_dns_unanswered_total")
            time.sleep(1)
        given_up = unanswered()
        assert set(given_up) <= {"A", "AAAA"} and set(given_up.values()) == {1}, given_up
        sent = {k[3]: v for k, v in series(url, "espia_dns_queries_total").items() if k[:3] == mine}
        assert set(sent) >= set(given_up) and min(sent.values()) >= 1, sent
    finally:
        forward.terminate()
        forward.communicate(timeout=10)  # and closes its pipes
        espia("undeploy", "--wait", "--timeout", "120")
