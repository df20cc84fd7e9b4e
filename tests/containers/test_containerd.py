"""containerd's native API against a real containerd, containers made with ``ctr``."""

from __future__ import annotations

import os
import socket
import time
from pathlib import Path

import pytest
from support.runtimes import TEST_LABEL, Ctr, Services, Watcher, expected_container
from support.workloads import unique

from espia.containers.model import Container, ContainerEventKind, K8sMeta
from espia.containers.runtimes.containerd import ContainerdRuntime
from espia.errors import RuntimeUnavailable


def expected(cid: str, pid: int, name: str, labels: dict[str, str], k8s: K8sMeta) -> Container:
    return expected_container("containerd", cid, name, pid, labels, k8s=k8s)


@pytest.fixture
def runtime(containerd_socket: str):
    rt = ContainerdRuntime(containerd_socket, namespaces=["k8s.io", "default"])
    yield rt
    rt.close()


def test_lists_a_plain_container_with_kernel_ids(containerd_socket: str, rootfs: Path, runtime):
    cid = unique("plain")
    with Ctr(containerd_socket, "default").running(cid, rootfs, labels={"tier": "db"}) as pid:
        found = {c.id: c for c in runtime.list_containers()}
        assert found[cid] == expected(cid, pid, cid, {TEST_LABEL: "1", "tier": "db"}, K8sMeta())
    assert found[cid].mntns != os.stat("/proc/self/ns/mnt").st_ino


def test_cgroup_is_the_cgroup2_path(containerd_socket: str, rootfs: Path, runtime):
    cid = unique("cg")
    with Ctr(containerd_socket, "default").running(cid, rootfs):
        found = {c.id: c for c in runtime.list_containers()}
    # containerd puts ctr's containers under /<namespace>/<id>, in cgroup2 too on hybrid hosts.
    assert found[cid].cgroup == f"/default/{cid}"


def test_only_selected_namespaces_are_listed(containerd_socket: str, rootfs: Path):
    cid = unique("ns")
    only_k8s = ContainerdRuntime(containerd_socket)
    try:
        with Ctr(containerd_socket, "default").running(cid, rootfs):
            assert only_k8s.namespaces == ("k8s.io",)
            assert cid not in {c.id for c in only_k8s.list_containers()}
    finally:
        only_k8s.close()


def test_stopped_containers_are_not_listed(containerd_socket: str, rootfs: Path, runtime):
    ctr = Ctr(containerd_socket, "default")
    cid = unique("stopped")
    ctr.run(cid, rootfs)
    try:
        ctr.stop(cid)  # the container record stays, without a task
        assert cid not in {c.id for c in runtime.list_containers()}
    finally:
        ctr.remove(cid)


def test_kubernetes_pod_containers(ctr: Ctr, rootfs: Path, runtime):
    pod = ctr.run_pod(
        rootfs, "my-pod", "my-ns", {"app": "my-app", "tier": "web"}, ["app", "sidecar"]
    )
    try:
        found = {c.id: c for c in runtime.list_containers()}
    finally:
        ctr.remove_pod(pod)
    app = found[pod.containers["app"]]
    assert app.name == "app"
    assert app.k8s == K8sMeta(
        namespace="my-ns",
        pod="my-pod",
        container="app",
        pod_uid=pod.uid,
        pod_labels={"app": "my-app", "tier": "web", TEST_LABEL: "1"},
        sandbox=False,
    )
    assert app.labels["io.cri-containerd.kind"] == "container"
    assert found[pod.containers["sidecar"]].k8s.container == "sidecar"
    sandbox = found[pod.sandbox_id]
    assert sandbox.name == "my-pod"
    assert sandbox.k8s == K8sMeta(
        namespace="my-ns",
        pod="my-pod",
        container="",
        pod_uid=pod.uid,
        pod_labels={"app": "my-app", "tier": "web", TEST_LABEL: "1"},
        sandbox=True,
    )


def test_annotations_alone_identify_a_pod_container(containerd_socket: str, rootfs: Path, runtime):
    """The CRI annotations in the OCI spec suffice when kubelet labels are absent."""
    cid = unique("annotated")
    annotations = {
        "io.kubernetes.cri.container-type": "container",
        "io.kubernetes.cri.container-name": "web",
        "io.kubernetes.cri.sandbox-name": "pod-a",
        "io.kubernetes.cri.sandbox-namespace": "team-a",
        "io.kubernetes.cri.sandbox-id": "no-such-sandbox",
    }
    with Ctr(containerd_socket, "default").running(cid, rootfs, annotations=annotations):
        found = {c.id: c for c in runtime.list_containers()}
    assert found[cid].k8s == K8sMeta(namespace="team-a", pod="pod-a", container="web")
    assert found[cid].name == "web"


def test_watch_reports_one_start_and_one_stop(containerd_socket: str, rootfs: Path, runtime):
    ctr = Ctr(containerd_socket, "default")
    runtime.list_containers()
    watcher = Watcher(runtime)
    time.sleep(0.3)  # let the subscription reach containerd
    cid = unique("watched")
    try:
        pid = ctr.run(cid, rootfs, labels={"tier": "cache"})
        started = watcher.next(cid)
        assert started.kind is ContainerEventKind.STARTED
        assert started.container == expected(
            cid, pid, cid, {TEST_LABEL: "1", "tier": "cache"}, K8sMeta()
        )
        ctr.remove(cid)
        stopped = watcher.next(cid)
        assert stopped.kind is ContainerEventKind.STOPPED
        assert stopped.container == started.container  # as known while it ran
        assert [e for e in watcher.drain(1.0) if e.container.id == cid] == []
    finally:
        watcher.close()
        ctr.remove(cid)
    assert watcher.error is None


def test_watch_reports_pod_containers_with_k8s_meta(ctr: Ctr, rootfs: Path, runtime):
    watcher = Watcher(runtime)
    time.sleep(0.3)
    pod = ctr.run_pod(rootfs, "watched-pod", "ns-w", {"app": "w"}, ["main"])
    try:
        sandbox = watcher.next(pod.sandbox_id)
        main = watcher.next(pod.containers["main"])
    finally:
        ctr.remove_pod(pod)
        watcher.close()
    assert sandbox.container.k8s.sandbox is True
    assert main.kind is ContainerEventKind.STARTED
    assert main.container.k8s == K8sMeta(
        "ns-w", "watched-pod", "main", pod.uid, {"app": "w", TEST_LABEL: "1"}
    )


def test_close_ends_watch_from_another_thread(runtime):
    watcher = Watcher(runtime)
    time.sleep(0.2)
    runtime.close()
    assert watcher.join(5)
    assert watcher.error is None
    runtime.close()  # idempotent


def test_missing_socket_is_one_clear_line(tmp_path: Path):
    path = tmp_path / "none.sock"
    with pytest.raises(RuntimeUnavailable) as caught:
        ContainerdRuntime(str(path))
    assert str(caught.value) == f"containerd: cannot connect to {path}: no such file or directory"


def test_refusing_socket_is_one_clear_line(tmp_path: Path):
    path = tmp_path / "stale.sock"
    with socket.socket(socket.AF_UNIX) as listener:
        listener.bind(str(path))  # bound, never listening: connect() is refused
        with pytest.raises(RuntimeUnavailable) as caught:
            ContainerdRuntime(str(path))
    assert str(caught.value) == f"containerd: cannot connect to {path}: connection refused"


def test_a_socket_that_is_not_containerd(tmp_path: Path):
    path = tmp_path / "mute.sock"
    with socket.socket(socket.AF_UNIX) as listener:
        listener.bind(str(path))
        listener.listen()
        with pytest.raises(RuntimeUnavailable) as caught:
            ContainerdRuntime(str(path))
    message = str(caught.value)
    assert message.startswith("containerd: get version: ")
    assert "\n" not in message


def test_restart_while_watching_raises_then_watch_again(services: Services, rootfs: Path):
    daemon = services.private_containerd("restart-ctrd")
    daemon.start(lambda: os.path.exists(daemon.socket))
    try:
        runtime = ContainerdRuntime(daemon.socket, namespaces=["default"])
        watcher = Watcher(runtime)
        time.sleep(0.3)
        daemon.stop()
        assert watcher.join(15), "watch() kept blocking after containerd stopped"
        assert isinstance(watcher.error, RuntimeUnavailable)
        assert str(watcher.error).startswith("containerd: ")
        assert "\n" not in str(watcher.error)

        daemon.start(lambda: os.path.exists(daemon.socket))
        time.sleep(0.5)
        again = Watcher(runtime)  # the same client reconnects on a new watch()
        time.sleep(0.5)
        ctr = Ctr(daemon.socket, "default")
        cid = unique("after-restart")
        ctr.run(cid, rootfs)
        try:
            assert again.next(cid).kind is ContainerEventKind.STARTED
        finally:
            ctr.remove(cid)
            again.close()
    finally:
        daemon.stop()


def test_a_closed_client_says_so(containerd_socket: str):
    runtime = ContainerdRuntime(containerd_socket)
    runtime.close()
    with pytest.raises(RuntimeUnavailable, match=r"^containerd: list tasks: client closed$"):
        runtime.list_containers()
    assert list(runtime.watch()) == []
