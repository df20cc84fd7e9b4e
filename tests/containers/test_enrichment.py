"""Events carry the container and pod that caused them; selectors drop the rest in the kernel."""

from __future__ import annotations

import contextlib
import json
import os
import socket
import subprocess
import time

import pytest
from support.runtimes import Ctr, answers
from support.workloads import EspiaCli, unique
from support.workloads import espia as run_espia

import espia


@pytest.fixture
def pods(ctr: Ctr, rootfs):
    """my-app in my-ns (labels app=my-app, tier=web) and other-app in other-ns.

    The test helpers label every container espia.test=1, pod sandboxes included.
    """
    made = [
        ctr.run_pod(rootfs, "my-app", "my-ns", {"app": "my-app", "tier": "web"}, ["app"]),
        ctr.run_pod(rootfs, "other-app", "other-ns", {"app": "other"}, ["app"]),
    ]
    yield made
    for pod in made:
        ctr.remove_pod(pod)


def touch_missing(path: str) -> None:
    with contextlib.suppress(FileNotFoundError):
        os.close(os.open(path, os.O_RDONLY))


def json_cli(tag: str, *args: str) -> EspiaCli:
    """`espia trace open <args> -o json`, attached: shown once a host open of `tag`-ready is."""
    marker = f"{tag}-ready"
    cli = EspiaCli(["trace", "open", *args, "-o", "json"])
    cli.wait_ready(lambda: touch_missing(marker), marker)
    return cli


def test_pod_events_carry_their_k8s_and_runtime_fields(ctr: Ctr, pods):
    mine, other = pods
    tag = unique("/tmp/k8s")
    cli = json_cli(tag, "-F", f"path:~^{tag}", "--host")
    ctr.exec(mine.containers["app"], "/bin/sh", "-c", f"cat {tag}-mine 2>/dev/null; true")
    ctr.exec(other.containers["app"], "/bin/sh", "-c", f"cat {tag}-other 2>/dev/null; true")
    touch_missing(f"{tag}-host")
    cli.proc.send_signal(2)
    code, _, err = cli.finish()
    assert code == 0, err
    by_path = {e["path"]: e for e in cli.json_events()}
    assert set(by_path) == {f"{tag}-ready", f"{tag}-mine", f"{tag}-other", f"{tag}-host"}
    event = by_path[f"{tag}-mine"]
    assert event["k8s"] == {
        "node": os.uname().nodename,
        "namespace": "my-ns",
        "pod": "my-app",
        "container": "app",
        "podLabels": {"app": "my-app", "tier": "web", "espia.test": "1"},
    }
    assert event["runtime"] == {
        "containerName": "app",
        "containerId": mine.containers["app"],
        "containerImageName": "",
        "runtimeName": "containerd",
    }
    assert event["comm"] == "cat" and event["err"] == 2
    assert by_path[f"{tag}-other"]["k8s"]["namespace"] == "other-ns"
    assert by_path[f"{tag}-other"]["k8s"]["pod"] == "other-app"
    host = by_path[f"{tag}-host"]
    assert host["runtime"]["containerName"] == "" and host["k8s"]["pod"] == ""


def test_exec_in_a_pod_is_attributed(ctr: Ctr, pods):
    mine, _ = pods
    tag = unique("exec")
    cli = EspiaCli(["trace", "exec", "-n", "my-ns", "-F", f"args:~{tag}"])
    cli.wait_for(lambda line: line.startswith("K8S.NAMESPACE"))
    ctr.exec(mine.containers["app"], "/bin/echo", tag)
    row = cli.wait_for(lambda line: tag in line)
    assert row.split()[:4] == ["my-ns", "my-app", "app", "app"]
    assert row.endswith(f"/bin/echo {tag}")


def test_seed_demo_shows_only_the_write_open_in_my_ns(ctr: Ctr, pods):
    """The seed's second demo: who opens /etc/resolv.conf for writing in my-ns?"""
    mine, other = pods
    cli = EspiaCli(
        [
            "trace",
            "open",
            "-n",
            "my-ns",
            "--filter",
            "path:/etc/resolv.conf,flags:~(O_WRONLY|O_RDWR)",
            "-o",
            "columns=+flags",
        ]
    )
    header = cli.wait_for(lambda line: line.startswith("K8S.NAMESPACE"))
    assert header.split() == [
        "K8S.NAMESPACE",
        "K8S.POD",
        "K8S.CONTAINER",
        "RUNTIME.CONTAINERNAME",
        "PID",
        "COMM",
        "FD",
        "ERR",
        "FLAGS",
        "PATH",
    ]
    app = mine.containers["app"]
    ctr.exec(app, "/bin/cat", "/etc/resolv.conf")  # a read: not shown
    ctr.exec(app, "/bin/sh", "-c", ": >> /etc/resolv.conf")  # the write
    ctr.exec(other.containers["app"], "/bin/sh", "-c", ": >> /etc/resolv.conf")  # other ns
    with open("/etc/resolv.conf", "a"):  # the host
        pass
    # A last write in my-ns by another command: events keep their order through every
    # stage, so once it is shown, everything before it was shown or dropped.
    ctr.exec(app, "/bin/busybox", "sh", "-c", ": >> /etc/resolv.conf")
    cli.wait_for(lambda line: "busybox" in line)
    cli.proc.send_signal(2)
    code, lines, err = cli.finish()
    assert code == 0, err
    rows = [line.split() for line in lines[1:]]
    assert len(rows) == 2 and rows[1][5] == "busybox", lines
    ns, pod, container, name, _pid, comm, fd, error, flags, path = rows[0]
    assert (ns, pod, container, name, comm) == ("my-ns", "my-app", "app", "app", "sh")
    assert (fd, error, path, flags) == ("3", "0", "/etc/resolv.conf", "O_WRONLY|O_CREAT|O_APPEND")


def test_a_container_that_lives_a_moment_is_named(ctr: Ctr, rootfs):
    tag = unique("/tmp/short")
    name = unique("short")
    cli = json_cli(tag, "-F", f"path:~^{tag}")
    started = time.monotonic()
    ctr.run_once(name, rootfs, "/bin/sh", "-c", f"cat {tag} 2>/dev/null; true")
    assert time.monotonic() - started < 5
    cli.wait_for(lambda line: tag in line and name in line)
    cli.proc.send_signal(2)
    cli.finish()
    (event,) = [e for e in cli.json_events() if e["path"] == tag]
    assert event["runtime"]["containerName"] == name
    assert event["runtime"]["runtimeName"] == "containerd"
    assert event["err"] == 2


def test_a_selected_container_that_lives_a_moment_is_not_dropped(ctr: Ctr, rootfs):
    name = unique("brief")
    cli = EspiaCli(["trace", "exec", "-c", name, "-o", "columns=runtime.containername,args"])
    cli.wait_for(lambda line: line.startswith("RUNTIME.CONTAINERNAME"))
    ctr.run_once(name, rootfs, "/bin/echo", "brief-life")
    ctr.run_once(unique("unselected"), rootfs, "/bin/echo", "brief-life")
    row = cli.wait_for(lambda line: "brief-life" in line)
    assert row.split() == [name, "/bin/echo", "brief-life"]
    time.sleep(1.5)
    cli.proc.send_signal(2)
    _, lines, err = cli.finish()
    assert len([line for line in lines if "brief-life" in line]) == 1
    # Nothing matched at start: said once, and the run went on waiting for it (a runtime
    # that restarts meanwhile has warnings of its own).
    said = [line for line in err.splitlines() if "no container matches" in line]
    assert said == [f"espia: warning: no container matches -c {name} yet: waiting for one to start"]


@pytest.mark.parametrize("without", [(), ("get_current_task_btf",)], ids=["task-btf", "probe-read"])
def test_selection_happens_in_the_kernel(ctr: Ctr, rootfs, without):
    """The unselected container's thousands of opens never reach user space."""
    selected, noisy = unique("selected"), unique("noisy")
    tag = unique("/tmp/sel")
    trace = espia.trace(
        "open", containername=selected, filter=f"path:~^{tag}", without_helpers=without
    )
    with ctr.running(selected, rootfs), ctr.running(noisy, rootfs), trace:
        loop = f": > {tag}-n; i=0; while [ $i -lt 2000 ]; do : < {tag}-n; i=$((i+1)); done"
        ctr.exec(noisy, "/bin/sh", "-c", loop)
        ctr.exec(selected, "/bin/sh", "-c", f": > {tag}-s; for i in 1 2 3 4; do : < {tag}-s; done")
        time.sleep(0.5)
        trace.stop()
        events = list(trace)
        received = trace.received
    assert [e.path for e in events] == [f"{tag}-s"] * 5  # the creation, then four reads
    assert {e.container.name for e in events} == {selected}
    # What reached user space: the selected container's opens, plus whatever
    # the ctr exec machinery and brand-new namespaces did: far from 2000.
    assert received < 200, received


def test_list_containers_shows_pod_containers_not_sandboxes(ctr: Ctr, pods):
    mine, _ = pods
    result = run_espia("list-containers", "-n", "my-ns", "-o", "json")
    assert result.returncode == 0, result.stderr
    (listed,) = json.loads(result.stdout)
    assert listed["runtime"]["containerId"] == mine.containers["app"]
    assert listed["k8s"]["pod"] == "my-app" and listed["k8s"]["namespace"] == "my-ns"
    assert listed["k8s"]["podLabels"] == {"app": "my-app", "tier": "web", "espia.test": "1"}
    assert listed["pid"] > 0 and listed["mntns"] == os.stat(f"/proc/{listed['pid']}/ns/mnt").st_ino

    result = run_espia("list-containers", "-n", "my-ns")
    lines = result.stdout.splitlines()
    assert lines[0].split()[:3] == [
        "RUNTIME.RUNTIMENAME",
        "RUNTIME.CONTAINERNAME",
        "RUNTIME.CONTAINERID",
    ]
    assert len(lines) == 2 and "my-app" in lines[1]


def test_list_containers_watch_reports_starts_and_stops(ctr: Ctr, rootfs):
    name = unique("watched")
    cli = EspiaCli(["list-containers", "--watch", "-c", name, "-o", "json"])
    # The running containers come first (none by that name): the watch is live from there.
    assert cli.wait_for(lambda line: line.startswith("[")) == "[]"
    with ctr.running(name, rootfs):
        (started,) = json.loads(cli.wait_for(lambda line: name in line and '"started"' in line))
    (stopped,) = json.loads(cli.wait_for(lambda line: name in line and '"stopped"' in line))
    assert started["runtime"]["containerName"] == stopped["runtime"]["containerName"] == name
    assert started["k8s"]["node"] == os.uname().nodename
    cli.proc.send_signal(2)
    assert cli.finish()[0] == 0


def test_list_containers_watch_shows_the_running_ones_first_in_every_format(ctr: Ctr, rootfs):
    name = unique("running")
    with ctr.running(name, rootfs):
        cli = EspiaCli(["list-containers", "--watch", "-c", name, "-o", "json"])
        (running,) = json.loads(cli.wait_for(lambda line: line.startswith("[")))
        assert (running["event"], running["runtime"]["containerName"]) == ("running", name)
        cli.proc.send_signal(2)
        assert cli.finish()[0] == 0
        yaml_cli = EspiaCli(["list-containers", "--watch", "-c", name, "-o", "yaml"])
        yaml_cli.wait_for(lambda line: f"containerName: {name}" in line)
        yaml_cli.proc.send_signal(2)
        assert yaml_cli.finish()[0] == 0


@pytest.mark.parametrize("engine", ["docker", "podman"])
def test_docker_and_podman_containers_are_named(engine, request):
    client = request.getfixturevalue(engine)
    name = unique(engine)
    tag = unique("/tmp/engine")
    cid = client.run(name)
    try:
        cli = EspiaCli(["trace", "exec", "-F", f"args:~{tag}", "-o", "json"])
        cli.wait_ready(lambda: subprocess.run(["/bin/true", f"{tag}-ready"], check=True), tag)
        client.cli("exec", cid, "/bin/echo", tag)
        # (The host's `docker exec ... /bin/echo TAG` is an exec too: skip it.)
        line = cli.wait_for(lambda text: f'"args":"/bin/echo {tag}"' in text)
    finally:
        client.remove(cid)
    event = json.loads(line)
    assert event["runtime"]["containerName"] == name
    assert event["runtime"]["runtimeName"] == engine
    assert event["runtime"]["containerId"] == cid
    assert event["comm"] == "echo"


def test_runtime_restart_while_tracing(services, rootfs, tmp_path):
    daemon = services.private_containerd(unique("restart"))
    ctr = Ctr(daemon.socket, "default")
    daemon.start(lambda: answers(daemon.socket))
    try:
        cli = EspiaCli(
            [
                "trace",
                "exec",
                "--runtimes",
                "containerd",
                "--runtime-socket",
                f"containerd={daemon.socket}",
                "--containerd-namespace",
                "default",
                "-F",
                "args:~^/bin/echo restart-check",
                "-o",
                "columns=runtime.containername,args",
            ]
        )
        cli.wait_for(lambda line: line.startswith("RUNTIME.CONTAINERNAME"))
        before, after = unique("before"), unique("after")
        ctr.run_once(before, rootfs, "/bin/echo", "restart-check", "1")
        assert cli.wait_for(lambda line: "restart-check 1" in line).split()[0] == before
        daemon.stop()
        daemon.start(lambda: answers(daemon.socket))
        # espia says when it follows containerd again; a container that starts
        # and ends before that would only be known by its id.
        deadline = time.monotonic() + 20
        while "containerd is back" not in cli.stderr_text() and time.monotonic() < deadline:
            time.sleep(0.1)
        ctr.run_once(after, rootfs, "/bin/echo", "restart-check", "2")
        assert cli.wait_for(lambda line: "restart-check 2" in line).split()[0] == after
        cli.proc.send_signal(2)
        code, _, err = cli.finish()
    finally:
        daemon.stop()
    assert code == 0
    assert "espia: warning: containerd:" in err and "(retrying)" in err
    assert "espia: warning: containerd is back: following its containers again" in err


def test_a_runtime_that_refuses_is_a_warning_not_the_end(tmp_path):
    path = tmp_path / "refusing.sock"
    listener = socket.socket(socket.AF_UNIX)
    listener.bind(str(path))  # bound, never listening: connections are refused
    try:
        result = run_espia(
            "trace",
            "exec",
            "-t",
            "1",
            "--runtimes",
            "docker",
            "--runtime-socket",
            f"docker={path}",
        )
    finally:
        listener.close()
    assert result.returncode == 0, result.stderr
    assert result.stderr.startswith(f"espia: warning: docker: cannot connect to {path}")
    assert result.stdout.splitlines()[0].split()[0] == "RUNTIME.CONTAINERNAME"


@pytest.mark.parametrize(
    ("selector", "shown"),
    [
        ("app in (my-app,nothing)", ["my-app"]),
        ("app notin (my-app)", ["other-app"]),
        ("app==other", ["other-app"]),
        ("tier", ["my-app"]),
        ("!tier", ["other-app"]),
        ("app in (my-app, other),tier!=web", ["other-app"]),
    ],
)
def test_kubectl_label_selectors_select_their_pods(ctr: Ctr, pods, selector, shown):
    mine, other = pods
    tag = unique("labels")
    with espia.trace("exec", selector=selector, filter=f"args:~{tag}") as trace:
        ctr.exec(mine.containers["app"], "/bin/echo", tag, "mine")
        ctr.exec(other.containers["app"], "/bin/echo", tag, "other")
        time.sleep(0.3)
        trace.stop()
        events = list(trace)
    assert [e.container.k8s.pod for e in events] == shown
