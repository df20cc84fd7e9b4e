"""`kubectl espia run IMAGE` and `kubectl espia image` against two real agents on this host.

As in test_merge.py, only the API server is played (LoopbackCluster); the
agents are `espia agent` processes, each with an image store of its own
(ESPIA_IMAGE_STORE), and the image is the guide's gadget, built and signed
with `espia image` into the client's store.  tests/cluster/test_cluster_run.py
runs the same on the real cluster, with the events of pods.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from support.images import SignedStore, espia_image, signed_store

from cluster_door.agents import AgentProcess
from cluster_door.test_merge import LoopbackCluster, NoStopper, parse
from espia.cli.main import guarded
from espia.kubectl import image, run

NODES = ("node-a", "node-b")


@pytest.fixture(scope="module")
def client_store(tmp_path_factory: pytest.TempPathFactory) -> SignedStore:
    return signed_store(tmp_path_factory.mktemp("kimages"))


@pytest.fixture
def stores_and_agents(tmp_path: Path, monkeypatch) -> Iterator[tuple[LoopbackCluster, dict]]:
    agents: dict[str, AgentProcess] = {}
    stores = {}
    try:
        for node in NODES:
            stores[node] = tmp_path / f"store-{node}"
            monkeypatch.setenv("ESPIA_IMAGE_STORE", str(stores[node]))
            agents[node] = AgentProcess(node, "--runtimes", "containerd", "--runtime-socket",
                                        "containerd=/nonexistent.sock")  # fmt: skip
        monkeypatch.delenv("ESPIA_IMAGE_STORE")
        cluster = LoopbackCluster({n: a.address for n, a in agents.items()}, set(NODES), [*NODES])
        yield cluster, stores
    finally:
        for agent in agents.values():
            agent.stop()


def kubectl_espia(cluster, *argv: str, capsys) -> tuple[int, list[str], list[str]]:
    """The command's exit status, stdout and stderr lines, as the command line has them."""
    args = parse(*argv)
    if args.command == "run":
        code = guarded(lambda: run.run(args, cluster, NoStopper, sys.stdout))
    else:
        code = guarded(lambda: image.run(args, cluster))
    out, err = capsys.readouterr()
    return code, out.splitlines(), err.splitlines()


def test_an_image_is_shipped_once_verified_then_run_on_every_node(
    client_store, stores_and_agents, capsys
):
    store, pub, _ = client_store
    cluster, stores = stores_and_agents
    flags = ("--store", str(store), "--key", str(pub), "-A", "-t", "1")
    code, out, err = kubectl_espia(cluster, "run", "mkdir:v1", *flags, capsys=capsys)
    assert code == 0, err
    digest = json.loads(espia_image("inspect", "mkdir:v1", "--store", str(store)))["digest"]
    shipped = [line for line in err if "image mkdir:v1" in line]
    assert [line.split(" uploaded (")[0] for line in shipped] == [
        f"espia: node {node}: image mkdir:v1 {digest[:19]}" for node in NODES
    ], err
    # Each agent's own store now has it, with the same digest, every blob there.
    for node in NODES:
        shown = json.loads(espia_image("inspect", "mkdir:v1", "--store", str(stores[node])))
        assert shown["digest"] == digest
    # The run itself: the image's columns, and every node summed up.
    assert out[0].split()[:2] == ["K8S.NODE", "K8S.NAMESPACE"], out
    assert err[-2:] == [
        f"espia: node {node}: 0 events, 0 lost in the kernel, 0 dropped by the agent"
        for node in NODES
    ], err

    # A second run sends nothing but the manifest and signature (checked again).
    code, _, err = kubectl_espia(cluster, "run", "mkdir:v1", *flags, "--param",
                                 "failed_only=true", capsys=capsys)  # fmt: skip
    assert code == 0, err
    assert [line for line in err if "image mkdir:v1" in line] == [
        f"espia: node {node}: image mkdir:v1 {digest[:19]} already there" for node in NODES
    ], err

    # A node that has the image still checks the signature, with this run's key.
    code, _, err = kubectl_espia(cluster, "run", "mkdir:v1", "--store", str(store), "--key",
                                 str(client_store.stranger), "-A", "-t", "1",
                                 capsys=capsys)  # fmt: skip
    assert code == 1 and len(err) == 1, err
    assert " bad signature: " in err[0] and err[0].endswith(" (nodes node-a, node-b)"), err

    # What each node has, as `image list` and `image inspect` show it.
    code, out, err = kubectl_espia(cluster, "image", "list", capsys=capsys)
    assert code == 0, err
    assert [line.split()[:3] for line in out] == [
        ["K8S.NODE", "NAME", "DIGEST"],
        *[[node, "mkdir:v1", digest[:19]] for node in NODES],
    ]
    code, out, err = kubectl_espia(cluster, "image", "inspect", "mkdir:v1", capsys=capsys)
    assert code == 0, err
    shown = json.loads("[" + "\n".join(out).replace("}\n{", "},\n{") + "]")
    assert [(s["node"], s["name"], s["digest"]) for s in shown] == [
        (node, "mkdir:v1", digest) for node in NODES
    ]
    assert shown[0]["config"]["name"] == "mkdir"


def test_a_bad_signature_or_parameter_is_one_line_and_nothing_stored(
    client_store, stores_and_agents, capsys
):
    store, pub, stranger = client_store
    cluster, stores = stores_and_agents
    code, _, err = kubectl_espia(cluster, "run", "mkdir:v1", "--store", str(store), "--key",
                                 str(stranger), "-A", "-t", "1", capsys=capsys)  # fmt: skip
    assert code == 1
    assert len(err) == 1, err
    assert err[0].startswith("espia: image mkdir:v1: bad signature: none of its signatures is "
                             "by this key for sha256:"), err  # fmt: skip
    assert err[0].endswith(" (nodes node-a, node-b)"), err
    assert not any(path.is_dir() and any(path.iterdir()) for path in (
        stores[n] / "blobs" / "sha256" for n in NODES)), "a refused image was stored"  # fmt: skip

    # Not signed (the same image in another repository, which no signature names): refused
    # by the agents too.
    espia_image("tag", "mkdir:v1", "unsigned/mkdir:v1", "--store", str(store))
    code, _, err = kubectl_espia(cluster, "run", "unsigned/mkdir:v1", "--store", str(store),
                                 "--key", str(pub), "-A", "-t", "1", capsys=capsys)  # fmt: skip
    assert code == 1 and len(err) == 1, err
    assert err[0].startswith("espia: image unsigned/mkdir:v1: it is not signed"), err

    # A parameter the gadget does not have: the agents' one line, exit 2.
    code, _, err = kubectl_espia(cluster, "run", "mkdir:v1", "--store", str(store), "--key",
                                 str(pub), "--param", "nosuch=1", "-A", "-t", "1",
                                 capsys=capsys)  # fmt: skip
    assert code == 2, err
    assert err[-1].startswith("espia: ") and "nosuch" in err[-1], err
