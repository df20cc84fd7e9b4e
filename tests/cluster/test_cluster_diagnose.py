"""`kubectl espia diagnose dns` on the real cluster: a pod asking a silent nameserver.

The pod has `dnsPolicy: None` and names a nameserver of its own, an address
of this machine where nothing answers DNS: the diagnosis, made by the local
command's analysis from both nodes' merged streams, says its queries got no
answer (naming the pod with its namespace and node), and that the pod does
not use the cluster's DNS service (kube-system/kube-dns, made here when the
cluster has none, with no pods behind it: only its address matters).
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Iterator

import pytest
from kubernetes import client
from kubernetes.client.exceptions import ApiException

from cluster.kube import KUBECONFIG, pod_manifest, wait_phase
from cluster.test_cluster_door import SILENT_NAMESERVER, kubectl
from cluster.test_cluster_run import agents  # noqa: F401 (a fixture)

NAME = "espia.example.test."


@pytest.fixture
def cluster_dns(core: client.CoreV1Api) -> Iterator[str]:
    """The ClusterIP of kube-system/kube-dns (a selector-less Service made if missing)."""
    made = False
    try:
        service = core.read_namespaced_service("kube-dns", "kube-system")
    except ApiException as exc:
        assert exc.status == 404, exc
        body = client.V1Service(
            metadata=client.V1ObjectMeta(name="kube-dns", labels={"espia-test": "diagnose"}),
            spec=client.V1ServiceSpec(ports=[client.V1ServicePort(port=53, protocol="UDP")]),
        )
        service = core.create_namespaced_service("kube-system", body)
        made = True
    try:
        yield service.spec.cluster_ip
    finally:
        if made:
            core.delete_namespaced_service("kube-dns", "kube-system")


def test_a_pod_asking_a_silent_nameserver_is_named_with_its_node(
    agents,  # noqa: F811 (the fixture imported above)
    cluster_dns: str,
    core: client.CoreV1Api,
    namespace: str,
):
    body = pod_manifest("asker", ["/bin/sh", "-c", "sleep 600"], node="node1")
    body["spec"]["dnsPolicy"] = "None"
    body["spec"]["dnsConfig"] = {"nameservers": [SILENT_NAMESERVER]}
    core.create_namespaced_pod(namespace, body)
    wait_phase(core, namespace, "asker", {"Running"})
    diagnose = subprocess.Popen(
        [sys.executable, "-m", "espia.kubectl.main", "diagnose", "dns", "-n", namespace,
         "--duration", "25", "-o", "json", "--kubeconfig", str(KUBECONFIG)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        time.sleep(8)  # both nodes' gadgets running (a few seconds on a loaded machine)
        # One lookup in the pod (busybox nslookup: A and AAAA), which gets no answer.
        kubectl("exec", "-n", namespace, "asker", "--", "nslookup", "-timeout=2", NAME,
                check=False)  # fmt: skip
        out, err = diagnose.communicate(timeout=120)
    finally:
        if diagnose.poll() is None:
            diagnose.kill()
            diagnose.communicate()
    assert diagnose.returncode == 0, err
    report = json.loads(out)
    (asker,) = report["clients"]
    assert {k: asker[k] for k in ("client", "kind", "namespace", "pod", "node", "resolvers")} == {
        "client": f"{namespace}/asker",
        "kind": "pod",
        "namespace": namespace,
        "pod": "asker",
        "node": "node1",
        "resolvers": [cluster_dns],
    }
    (server,) = asker["nameservers"]
    sent = server["queries"]
    assert server["nameserver"] == SILENT_NAMESERVER and sent >= 1, server
    assert (server["answered"], server["unanswered"]) == (0, sent), server
    kinds = [(f["severity"], f["kind"]) for f in report["findings"]]
    assert kinds == [("critical", "no-answer"), ("notice", "other-resolver")], report["findings"]
    silent, other = report["findings"]
    who = f"{namespace}/asker on node1"
    assert silent["text"] == (
        f"{who}: {sent} of {sent} queries to {SILENT_NAMESERVER} got no answer in 5 s"
    )
    assert (silent["client"], silent["node"], silent["nameserver"]) == (
        f"{namespace}/asker",
        "node1",
        SILENT_NAMESERVER,
    )
    assert other["text"] == (
        f"{who}: {sent} queries went to {SILENT_NAMESERVER}, which is not its resolver "
        f"({cluster_dns})"
    )
    summary = [line for line in err.splitlines() if line.startswith("espia: node ")]
    assert [line.split(":")[1].strip() for line in summary] == ["node node1", "node node2"], err
