"""`kubectl espia run IMAGE` on the real cluster: a user's gadget, built into an image with
`espia image build` and signed, shipped by the client to both nodes' agents and run there.

The gadget is the guide's (failed mkdirs, with their errno, path and
container); a pod on each node makes one a second.  No registry is involved:
the client's store is the only source, as when the nodes cannot reach the
registry the user pulled from.
"""

from __future__ import annotations

import json
import signal
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from kubernetes import client
from support.images import SignedStore, espia_image, signed_store

from cluster.kube import pod_manifest, wait_phase
from cluster.test_cluster_door import IMAGE, SOCKET, Streaming, espia

NODES = ("node1", "node2")


@pytest.fixture(scope="module")
def agents(cluster: Path) -> Iterator[None]:
    """espia deployed on both nodes for this module (each test file deploys its own)."""
    result = espia(
        "deploy", "--image", IMAGE, "--image-pull-policy", "Never",
        "--runtime-socket", SOCKET, "--wait", "--timeout", "150",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    try:
        yield
    finally:
        done = espia("undeploy", "--wait", "--timeout", "120")
        assert done.returncode == 0, done.stderr


@pytest.fixture(scope="module")
def image(tmp_path_factory: pytest.TempPathFactory) -> SignedStore:
    return signed_store(tmp_path_factory.mktemp("cluster-run"))


def start_pod(core: client.CoreV1Api, namespace: str, name: str, node: str, script: str) -> None:
    body = pod_manifest(name, ["/bin/sh", "-c", script], node=node)
    core.create_namespaced_pod(namespace, body)
    wait_phase(core, namespace, name, {"Running"})


def test_a_signed_image_runs_on_both_nodes_with_exact_fields_and_is_shipped_once(
    agents, image: SignedStore, core: client.CoreV1Api, namespace: str
):
    marker = f"/nonexistent/run-{uuid.uuid4().hex[:8]}"
    for node in NODES:
        start_pod(core, namespace, f"maker-{node}", node,
                  f"while :; do mkdir {marker}-{node} 2>/dev/null; sleep 1; done")  # fmt: skip
    digest = json.loads(espia_image("inspect", "mkdir:v1", "--store", str(image.store)))["digest"]
    flags = ("--store", str(image.store), "--key", str(image.public_key), "-n", namespace)
    run = Streaming("run", "mkdir:v1", *flags, "-o", "json", "-t", "150",
                    "--param", "failed_only=true", "-F", f"path:~{marker}")  # fmt: skip
    try:
        for node in NODES:
            run.wait_for(lambda line, node=node: f"{marker}-{node}" in line, timeout=100)
    finally:
        run.proc.send_signal(signal.SIGINT)
        code = run.finish()
    assert code == 0, run.err
    shipped = [line for line in run.err if " image mkdir:v1 " in line]
    assert sorted(line.split(" uploaded (")[0] for line in shipped) == [
        f"espia: node {node}: image mkdir:v1 {digest[:19]}" for node in NODES
    ], run.err
    events = [json.loads(line) for line in run.lines]
    seen = {
        (e["k8s"]["node"], e["k8s"]["namespace"], e["k8s"]["pod"], e["k8s"]["container"],
         e["path"], e["err"], e["errname"])
        for e in events
    }  # fmt: skip
    assert seen == {
        (node, namespace, f"maker-{node}", "main", f"{marker}-{node}", 2, "ENOENT")
        for node in NODES
    }, events

    # Again: each node has the image; only its manifest and signature travel.
    again = espia("run", "mkdir:v1", *flags, "-t", "2")
    assert again.returncode == 0, again.stderr
    assert sorted(line for line in again.stderr.splitlines() if " image mkdir:v1 " in line) == [
        f"espia: node {node}: image mkdir:v1 {digest[:19]} already there" for node in NODES
    ], again.stderr

    listed = espia("image", "list")
    assert listed.returncode == 0, listed.stderr
    rows = [line.split()[:3] for line in listed.stdout.splitlines()]
    assert rows[0] == ["K8S.NODE", "NAME", "DIGEST"]
    assert [row for row in rows[1:] if row[1] == "mkdir:v1"] == [
        [node, "mkdir:v1", digest[:19]] for node in NODES
    ], listed.stdout


def test_a_bad_signature_is_refused_in_one_line(agents, image: SignedStore, namespace: str):
    # Another repository's name for the same image: the agents never stored it.
    espia_image("tag", "mkdir:v1", "stranger/mkdir:v1", "--store", str(image.store))
    result = espia("run", "stranger/mkdir:v1", "--store", str(image.store), "--key",
                   str(image.public_key), "-n", namespace, "-t", "2")  # fmt: skip
    assert result.returncode == 1, result.stderr
    assert result.stderr.splitlines() == [
        "espia: image stranger/mkdir:v1: it is not signed (no signature in the client's store); "
        "--verify-image=false runs it unverified (nodes node1, node2)"
    ]
    result = espia("run", "mkdir:v1", "--store", str(image.store), "--key",
                   str(image.stranger), "-n", namespace, "-t", "2")  # fmt: skip
    assert result.returncode == 1, result.stderr
    assert len(result.stderr.splitlines()) == 1, result.stderr
    (line,) = result.stderr.splitlines()
    assert line.startswith(
        "espia: image mkdir:v1: bad signature: none of its signatures is by this key for sha256:"
    ), line
    assert line.endswith(" (nodes node1, node2)"), line
    inspected = espia("image", "inspect", "stranger/mkdir:v1")
    assert inspected.returncode == 1
    assert inspected.stderr.splitlines() == [
        f"espia: node {node}: image stranger/mkdir:v1: not on this node "
        "(`kubectl espia run` ships it)"
        for node in NODES
    ]
