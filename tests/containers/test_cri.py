"""The CRI client against containerd's CRI plugin, with pods made through the CRI itself.

The pods are created the way a kubelet creates them (RunPodSandbox,
CreateContainer, StartContainer with the kubelet's labels), so these tests
also check what containerd's native API shows for real CRI containers.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest
from support.runtimes import TEST_LABEL, Pod, Watcher
from support.workloads import unique

from espia.containers.model import ContainerEventKind, K8sMeta
from espia.containers.runtimes.containerd import ContainerdRuntime
from espia.containers.runtimes.cri import CriRuntime
from espia.errors import RuntimeUnavailable

POD_LABELS = {"app": "my-app", TEST_LABEL: "1"}


@pytest.fixture(scope="module")
def cri_pods(containerd_socket: str):
    from support.cri import CriPods

    pods = CriPods(containerd_socket)
    yield pods
    pods.close()


@pytest.fixture
def pod(cri_pods):
    try:
        made = cri_pods.run_pod(unique("my-pod"), "my-ns", POD_LABELS, ["app"])
    except Exception as exc:  # grpc.RpcError: the CRI plugin could not run a pod here
        pytest.skip(f"containerd's CRI plugin cannot run pods on this host: {exc}")
    yield made
    cri_pods.remove_pod(made)


@pytest.fixture
def cri(containerd_socket: str):
    runtime = CriRuntime(containerd_socket, name="cri", poll_interval=0.2)
    yield runtime
    runtime.close()


def meta(pod: Pod, container: str, sandbox: bool) -> K8sMeta:
    return K8sMeta(pod.namespace, pod.name, container, pod.uid, POD_LABELS, sandbox)


def ns_ino(pid: int, kind: str) -> int:
    return os.stat(f"/proc/{pid}/ns/{kind}").st_ino


def test_lists_pod_containers_and_sandboxes(cri, pod: Pod):
    found = {c.id: c for c in cri.list_containers()}
    app = found[pod.containers["app"]]
    assert (app.name, app.runtime) == ("app", "cri")
    assert app.k8s == meta(pod, "app", sandbox=False)
    assert app.pid > 0
    assert app.mntns == ns_ino(app.pid, "mnt")
    assert app.netns == ns_ino(app.pid, "net")
    assert app.image.endswith("espia-busybox:test")
    sandbox = found[pod.sandbox_id]
    assert sandbox.name == pod.name
    assert sandbox.k8s == meta(pod, "", sandbox=True)
    assert sandbox.mntns == ns_ino(sandbox.pid, "mnt")
    assert sandbox.netns == app.netns  # host network for both


def test_containerd_native_api_agrees_on_real_cri_containers(containerd_socket: str, cri, pod: Pod):
    native = ContainerdRuntime(containerd_socket)
    try:
        by_native = {c.id: c for c in native.list_containers()}
    finally:
        native.close()
    by_cri = {c.id: c for c in cri.list_containers()}
    for cid in (pod.containers["app"], pod.sandbox_id):
        assert by_native[cid].k8s == by_cri[cid].k8s
        assert by_native[cid].pid == by_cri[cid].pid
        assert by_native[cid].cgroup == by_cri[cid].cgroup != ""
    assert by_native[pod.containers["app"]].name == "app"


def test_watch_polls_starts_and_stops(cri, cri_pods, pod: Pod):
    cri.list_containers()
    watcher = Watcher(cri)
    try:
        time.sleep(0.5)
        extra = pod.containers["app"]
        cri_pods.stop(extra)
        stopped = watcher.next(extra)
        assert stopped.kind is ContainerEventKind.STOPPED
        assert stopped.container.k8s == meta(pod, "app", sandbox=False)
        assert [e for e in watcher.drain(0.6) if e.container.id == extra] == []
    finally:
        watcher.close()
    assert watcher.error is None


def test_watch_without_a_list_reports_what_runs(cri, pod: Pod):
    watcher = Watcher(cri)
    try:
        started = watcher.next(pod.containers["app"])
    finally:
        watcher.close()
    assert started.kind is ContainerEventKind.STARTED
    assert started.container.k8s.pod == pod.name


def test_crio_socket_absent_is_one_clear_line(tmp_path: Path):
    path = tmp_path / "crio.sock"
    with pytest.raises(RuntimeUnavailable) as caught:
        CriRuntime(str(path))
    assert str(caught.value) == f"cri-o: cannot connect to {path}: no such file or directory"
