"""The Docker Engine API client against real dockerd and podman services."""

from __future__ import annotations

import os
import socket
import threading
import time
from pathlib import Path

import pytest
from support.runtimes import (
    TEST_LABEL,
    Docker,
    Services,
    Watcher,
    engine_ping,
    expected_container,
)
from support.workloads import EspiaCli, unique

from espia.containers.model import Container, ContainerEventKind, K8sMeta
from espia.containers.runtimes.docker import DockerRuntime
from espia.containers.runtimes.podman import PodmanRuntime
from espia.errors import RuntimeUnavailable


@pytest.fixture(params=["docker", "podman"])
def engine(request):
    """(the CLI helper, a runtime client) for each Engine API daemon."""
    cli = request.getfixturevalue(request.param)
    runtime = DockerRuntime(cli.socket) if request.param == "docker" else PodmanRuntime()
    yield cli, runtime
    runtime.close()


def expected(runtime: str, cid: str, name: str, image: str, pid: int, labels) -> Container:
    return expected_container(runtime, cid, name, pid, labels, image=image)


def test_lists_running_containers(engine):
    cli, runtime = engine
    name = unique("listed")
    cid = cli.run(name, {"tier": "db"})
    try:
        pid = cli.pid(cid)
        found = {c.id: c for c in runtime.list_containers()}
        assert found[cid] == expected(
            runtime.name, cid, name, cli.default_image, pid, {TEST_LABEL: "1", "tier": "db"}
        )
        assert found[cid].cgroup.endswith(cid) or cid in found[cid].cgroup
    finally:
        cli.remove(cid)
    assert cid not in {c.id for c in runtime.list_containers()}


def test_watch_reports_one_start_and_one_stop(engine):
    cli, runtime = engine
    runtime.list_containers()
    watcher = Watcher(runtime)
    time.sleep(0.5)  # let the event stream open
    name = unique("watched")
    cid = cli.run(name)
    try:
        started = watcher.next(cid)
        assert started.kind is ContainerEventKind.STARTED
        assert started.container.name == name
        assert started.container.pid == cli.pid(cid)
        assert started.container.mntns == os.stat(f"/proc/{cli.pid(cid)}/ns/mnt").st_ino
    finally:
        cli.remove(cid)
    stopped = watcher.next(cid)
    assert stopped.kind is ContainerEventKind.STOPPED
    assert stopped.container == started.container
    assert [e for e in watcher.drain(1.0) if e.container.id == cid] == []
    watcher.close()
    assert watcher.error is None


def test_kubernetes_labels_and_pod_labels_through_the_sandbox(docker: Docker, docker_socket: str):
    """cri-dockerd's layout: kubelet labels on both, pod labels on the sandbox only."""
    pod = {
        "io.kubernetes.pod.name": "web-0",
        "io.kubernetes.pod.namespace": "shop",
        "io.kubernetes.pod.uid": "0b1c",
    }
    sandbox = docker.run(
        unique("k8s_POD"), {**pod, "app": "web", "io.kubernetes.docker.type": "podsandbox"}
    )
    app = docker.run(
        unique("k8s_nginx"),
        {
            **pod,
            "io.kubernetes.container.name": "nginx",
            "io.kubernetes.docker.type": "container",
            "io.kubernetes.sandbox.id": sandbox,
        },
    )
    runtime = DockerRuntime(docker_socket)
    try:
        found = {c.id: c for c in runtime.list_containers()}
    finally:
        runtime.close()
        docker.remove(app)
        docker.remove(sandbox)
    assert found[app].k8s == K8sMeta(
        namespace="shop",
        pod="web-0",
        container="nginx",
        pod_uid="0b1c",
        pod_labels={"app": "web", TEST_LABEL: "1"},
    )
    assert found[sandbox].k8s.sandbox is True


@pytest.mark.parametrize("cls", [DockerRuntime, PodmanRuntime])
def test_down_is_one_clear_line(cls, tmp_path: Path):
    missing = tmp_path / "missing.sock"
    with pytest.raises(RuntimeUnavailable) as caught:
        cls(str(missing))
    name = cls.default_name
    assert str(caught.value) == f"{name}: cannot connect to {missing}: no such file or directory"

    stale = tmp_path / "stale.sock"
    with socket.socket(socket.AF_UNIX) as listener:
        listener.bind(str(stale))
        with pytest.raises(RuntimeUnavailable) as caught:
            cls(str(stale))
    assert str(caught.value) == f"{name}: cannot connect to {stale}: connection refused"


def test_a_socket_that_answers_garbage(tmp_path: Path):
    path = tmp_path / "garbage.sock"
    with socket.socket(socket.AF_UNIX) as listener:
        listener.bind(str(path))
        listener.listen()

        def answer() -> None:
            conn, _ = listener.accept()
            with conn:
                conn.recv(4096)
                conn.sendall(b"SSH-2.0-OpenSSH\r\n")

        server = threading.Thread(target=answer)
        server.start()
        with pytest.raises(RuntimeUnavailable) as caught:
            DockerRuntime(str(path))
        server.join()
    assert str(caught.value).startswith("docker: GET /_ping: bad HTTP answer")
    assert "\n" not in str(caught.value)


def test_restart_while_watching_raises_then_watch_again(services: Services, containerd_socket):
    daemon = services.private_dockerd("restart-dockerd")
    daemon.start(lambda: engine_ping(daemon.socket))
    try:
        runtime = DockerRuntime(daemon.socket)
        watcher = Watcher(runtime)
        time.sleep(0.3)
        daemon.stop()
        assert watcher.join(15), "watch() kept blocking after dockerd stopped"
        assert isinstance(watcher.error, RuntimeUnavailable)
        assert str(watcher.error) == "docker: GET /events: the daemon closed the stream"
        assert "\n" not in str(watcher.error)

        daemon.start(lambda: engine_ping(daemon.socket))
        again = Watcher(runtime)  # the same client works again on a new watch()
        time.sleep(0.3)
        assert again.drain(0.2) == []
        again.close()
        assert again.error is None
    finally:
        daemon.stop()


def test_containers_of_a_runtime_not_watched_are_said_once(podman, tmp_path):
    """Podman without its API socket: its containers are shown by id, and that is said
    once for the runtime, not once per container or event."""
    missing = tmp_path / "missing.sock"
    cids = [podman.run(unique("unwatched")) for _ in range(2)]
    try:
        cli = EspiaCli(
            [
                "trace", "exec", "--runtime-socket", f"podman={missing}",
                "-F", "comm:true", "-o", "columns=runtime.containername,args",
            ]
        )  # fmt: skip
        cli.wait_for(lambda line: line.startswith("RUNTIME.CONTAINERNAME"))
        for cid in cids * 2:
            podman.cli("exec", cid, "/bin/true", "unwatched")
        rows = [cli.wait_for(lambda line, cid=cid: line.startswith(cid[:12])) for cid in cids]
        time.sleep(1)
        cli.proc.send_signal(2)
        code, lines, err = cli.finish()
    finally:
        for cid in cids:
            podman.remove(cid)
    assert code == 0, err
    assert [row.split() for row in rows] == [[cid[:12], "/bin/true", "unwatched"] for cid in cids]
    assert len([line for line in lines if line.endswith("unwatched")]) == 4
    assert [line for line in err.splitlines() if "podman" in line] == [
        f"espia: warning: podman: cannot connect to {missing}: no such file or directory "
        "(its containers are shown by id)",
        "espia: warning: containers of podman are shown by id: podman's API does not answer "
        "here (give its socket with --runtime-socket podman=PATH)",
    ]
