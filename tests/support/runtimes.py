"""Real container runtimes for tests: start the daemons that are missing, stop only those.

Nothing here installs anything; a missing binary skips the tests that need it
(Debian: containerd runc docker.io podman busybox-static). Daemons already
running are reused and left alone. Those started here use their default
sockets, log under a temp dir and are stopped in reverse order by
:meth:`Services.stop`; containers made by the helpers are removed by their
owners (and by :meth:`Services.stop` as a last resort, by the label
``espia.test``).

Two adaptations to this kind of machine, both harmless elsewhere:
- podman runs with ``default_ulimits = []`` (through CONTAINERS_CONF), since
  its default open-files limit is above what the sandbox allows;
- containerd started here gets ``restrict_oom_score_adj``: without
  CAP_SYS_RESOURCE, runc cannot lower the sandbox's oom_score_adj to -998.

Typical use, from a session fixture::

    services = Services(tmp_dir)
    socket = services.containerd()
    pod = Ctr(socket).run_pod("my-pod", "my-ns", {"app": "my-app"}, ["app"])
    ...
    services.stop()
"""

from __future__ import annotations

import contextlib
import hashlib
import http.client
import io
import json
import os
import queue
import shutil
import signal
import socket
import subprocess
import tarfile
import threading
import time
import uuid
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from espia.containers.model import Container, K8sMeta
from support.workloads import require, unique

CONTAINERD_SOCKET = "/run/containerd/containerd.sock"
DOCKER_SOCKET = "/var/run/docker.sock"
PODMAN_SOCKET = "/run/podman/podman.sock"
TEST_LABEL = "espia.test"
IMAGE = "espia-busybox:test"
PAUSE_IMAGE = "registry.k8s.io/pause:3.6"  # containerd 1.6's default sandbox_image
SLEEP = ["/bin/sleep", "100000"]

_CONTAINERD_CONFIG = """\
version = 2
[plugins."io.containerd.grpc.v1.cri"]
  restrict_oom_score_adj = true
  sandbox_image = "{pause}"
"""
_PODMAN_CONFIG = "[containers]\ndefault_ulimits = []\n"


def run(argv: Sequence[str], env: Mapping[str, str] | None = None, timeout: float = 60) -> str:
    """Run a command, returning its stdout; a failure raises with its stderr."""
    done = subprocess.run(
        list(argv),
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, **(env or {})},
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)} failed ({done.returncode}): {done.stderr.strip()}")
    return done.stdout


def answers(path: str) -> bool:
    """Whether something accepts connections on the unix socket ``path``."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.settimeout(2)
        try:
            sock.connect(path)
        except OSError:
            return False
    return True


def engine_ping(path: str) -> bool:
    """Whether a Docker Engine API on ``path`` answers /_ping."""

    class Unix(http.client.HTTPConnection):
        def connect(self) -> None:
            self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            self.sock.settimeout(5)
            self.sock.connect(path)

    conn = Unix("localhost")
    try:
        conn.request("GET", "/_ping")
        return conn.getresponse().status == 200
    except OSError:
        return False
    finally:
        conn.close()


def wait_for(predicate: Any, what: str, timeout: float = 30.0) -> None:
    """Poll ``predicate()`` until true; fail the test after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out waiting for {what}")
        time.sleep(0.05)


# --- images --------------------------------------------------------------------------------


def busybox_rootfs(path: Path) -> Path:
    """A minimal root filesystem: Debian's static busybox, its applet links, /etc/resolv.conf."""
    if (path / "bin" / "busybox").exists():
        return path
    busybox = shutil.which("busybox") or "/bin/busybox"
    (path / "bin").mkdir(parents=True)
    (path / "etc").mkdir()
    (path / "tmp").mkdir()
    shutil.copy2(busybox, path / "bin" / "busybox")
    applets = run([busybox, "--list"]).split()
    for applet in applets:
        link = path / "bin" / applet
        if not link.exists():
            link.symlink_to("busybox")
    (path / "etc" / "resolv.conf").write_text("nameserver 127.0.0.1\n")
    (path / "etc" / "passwd").write_text("root:x:0:0:root:/:/bin/sh\n")
    return path


def rootfs_tar(rootfs: Path, out: Path) -> Path:
    """The rootfs as a plain tar, for ``docker import`` / ``podman import``."""
    with tarfile.open(out, "w") as tar:
        for entry in sorted(rootfs.iterdir()):
            tar.add(entry, arcname=entry.name)
    return out


def oci_archive(rootfs: Path, out: Path, refs: Sequence[str], cmd: Sequence[str]) -> Path:
    """An OCI image layout tar of ``rootfs``, named ``refs``, for ``ctr images import``."""

    def blob(tar: tarfile.TarFile, data: bytes) -> dict[str, Any]:
        digest = hashlib.sha256(data).hexdigest()
        info = tarfile.TarInfo(f"blobs/sha256/{digest}")
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))
        return {"digest": f"sha256:{digest}", "size": len(data)}

    layer = rootfs_tar(rootfs, out.with_suffix(".layer")).read_bytes()
    with tarfile.open(out, "w") as tar:
        layer_desc = blob(tar, layer)
        config = {
            "architecture": "amd64",
            "os": "linux",
            "config": {"Cmd": list(cmd)},
            "rootfs": {"type": "layers", "diff_ids": [layer_desc["digest"]]},
        }
        manifest = {
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "config": {
                "mediaType": "application/vnd.oci.image.config.v1+json",
                **blob(tar, json.dumps(config).encode()),
            },
            "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar", **layer_desc}],
        }
        manifest_desc = blob(tar, json.dumps(manifest).encode())
        index = {
            "schemaVersion": 2,
            "manifests": [
                {
                    "mediaType": "application/vnd.oci.image.manifest.v1+json",
                    **manifest_desc,
                    "annotations": {"io.containerd.image.name": ref},
                }
                for ref in refs
            ],
        }
        for name, data in (
            ("index.json", json.dumps(index).encode()),
            ("oci-layout", b'{"imageLayoutVersion":"1.0.0"}'),
        ):
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return out


# --- daemons -------------------------------------------------------------------------------


@dataclass
class Daemon:
    """A daemon started by the tests: its process, its socket and its log."""

    name: str
    argv: list[str]
    socket: str
    log: Path
    env: dict[str, str] = field(default_factory=dict)
    process: subprocess.Popen[bytes] | None = None

    def start(self, ready: Any, timeout: float = 60.0) -> None:
        """Start it and wait until ``ready()``; its log is in the error if it never is."""
        with self.log.open("ab") as log:
            self.process = subprocess.Popen(
                self.argv,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                env={**os.environ, **self.env},
                start_new_session=True,
            )
        try:
            wait_for(lambda: self.process.poll() is not None or ready(), self.name, timeout)
        except TimeoutError:
            self.stop()
            raise
        if self.process.poll() is not None:
            tail = self.log.read_text(errors="replace")[-2000:]
            raise RuntimeError(f"{self.name} exited with {self.process.returncode}: {tail}")

    def stop(self, timeout: float = 20.0) -> None:
        """SIGTERM, then SIGKILL after ``timeout``; idempotent."""
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


class Services:
    """The runtimes a test session needs, started on demand, stopped in reverse order."""

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.started: list[Daemon] = []
        self.podman_env = {"CONTAINERS_CONF": str(self._write("containers.conf", _PODMAN_CONFIG))}
        self._rootfs: Path | None = None

    def _write(self, name: str, text: str) -> Path:
        path = self.workdir / name
        path.write_text(text)
        return path

    @property
    def rootfs(self) -> Path:
        """The shared busybox root filesystem."""
        if self._rootfs is None:
            self._rootfs = busybox_rootfs(self.workdir / "rootfs")
        return self._rootfs

    def _start(self, daemon: Daemon, ready: Any) -> None:
        daemon.start(ready)
        self.started.append(daemon)

    def containerd(self) -> str:
        """containerd on its default socket, with the CRI plugin and the test images in k8s.io."""
        require("containerd", "ctr", "runc")
        if not answers(CONTAINERD_SOCKET):
            config = self._write("containerd.toml", _CONTAINERD_CONFIG.format(pause=PAUSE_IMAGE))
            daemon = Daemon(
                "containerd",
                ["containerd", "--config", str(config)],
                CONTAINERD_SOCKET,
                self.workdir / "containerd.log",
            )
            self._start(daemon, lambda: answers(CONTAINERD_SOCKET) and _ctr_ok())
        ctr = Ctr(CONTAINERD_SOCKET, "k8s.io")
        if PAUSE_IMAGE not in ctr.images():
            archive = oci_archive(
                self.rootfs,
                self.workdir / "images.tar",
                [PAUSE_IMAGE, f"docker.io/library/{IMAGE}"],
                ["/bin/sleep", "infinity"],
            )
            ctr.ctr("images", "import", str(archive))
        return CONTAINERD_SOCKET

    def dockerd(self) -> str:
        """dockerd on its default socket (no iptables, no bridge), with the busybox image."""
        require("dockerd", "docker")
        if not engine_ping(DOCKER_SOCKET):
            daemon = Daemon(
                "dockerd",
                ["dockerd", "--iptables=false", "--bridge=none"],
                DOCKER_SOCKET,
                self.workdir / "dockerd.log",
            )
            self._start(daemon, lambda: engine_ping(DOCKER_SOCKET))
        docker = Docker(DOCKER_SOCKET)
        with contextlib.suppress(RuntimeError):
            docker.cli("image", "inspect", IMAGE)
            return DOCKER_SOCKET
        docker.cli("import", str(rootfs_tar(self.rootfs, self.workdir / "rootfs.tar")), IMAGE)
        return DOCKER_SOCKET

    def podman(self) -> str:
        """``podman system service`` on the rootful socket, with the busybox image."""
        require("podman")
        if not engine_ping(PODMAN_SOCKET):
            Path(PODMAN_SOCKET).parent.mkdir(parents=True, exist_ok=True)
            daemon = Daemon(
                "podman",
                ["podman", "system", "service", "--time=0", f"unix://{PODMAN_SOCKET}"],
                PODMAN_SOCKET,
                self.workdir / "podman.log",
                env=self.podman_env,
            )
            self._start(daemon, lambda: engine_ping(PODMAN_SOCKET))
        podman = Podman(self.podman_env)
        with contextlib.suppress(RuntimeError):
            podman.cli("image", "inspect", f"localhost/{IMAGE}")
            return PODMAN_SOCKET
        podman.cli("import", str(rootfs_tar(self.rootfs, self.workdir / "rootfs.tar")), IMAGE)
        return PODMAN_SOCKET

    def private_containerd(self, name: str) -> Daemon:
        """A containerd of our own (root, state and socket under workdir, no CRI), not started:
        for tests that stop and restart a runtime without touching the shared one."""
        require("containerd")
        base = self.workdir / name
        base.mkdir(parents=True, exist_ok=True)
        sock = base / "containerd.sock"
        config = self._write(
            f"{name}.toml",
            'version = 2\ndisabled_plugins = ["io.containerd.grpc.v1.cri"]\n'
            f'root = "{base}/root"\nstate = "{base}/state"\n'
            f'[grpc]\n  address = "{sock}"\n[ttrpc]\n  address = "{sock}.ttrpc"\n',
        )
        return Daemon(name, ["containerd", "--config", str(config)], str(sock), base / "log")

    def private_dockerd(self, name: str) -> Daemon:
        """A dockerd of our own (data, exec root and socket under workdir), not started; it
        shares the host's containerd, if one runs, in containerd namespace ``name``."""
        require("dockerd")
        base = self.workdir / name
        base.mkdir(parents=True, exist_ok=True)
        sock = base / "docker.sock"
        argv = ["dockerd", "--iptables=false", "--bridge=none", f"--host=unix://{sock}"]
        argv += [f"--data-root={base}/data", f"--exec-root={base}/exec", f"--pidfile={base}/pid"]
        argv += [f"--containerd-namespace={name}", f"--containerd-plugins-namespace={name}-p"]
        return Daemon(name, argv, str(sock), base / "log")

    def stop(self) -> None:
        """Remove leftover test containers, then stop what was started here, newest first."""
        for daemon in self.started:
            with contextlib.suppress(Exception):
                _cleanup(daemon.name, self.podman_env)
        for daemon in reversed(self.started):
            daemon.stop()
        self.started.clear()


def _ctr_ok() -> bool:
    try:
        run(["ctr", "--address", CONTAINERD_SOCKET, "version"], timeout=5)
    except (RuntimeError, subprocess.TimeoutExpired):
        return False
    return True


def _cleanup(daemon: str, podman_env: Mapping[str, str]) -> None:
    if daemon == "containerd":
        for namespace in ("k8s.io", "default"):
            ctr = Ctr(CONTAINERD_SOCKET, namespace)
            for cid in ctr.ctr("containers", "ls", "-q", f'labels."{TEST_LABEL}"').split():
                ctr.remove(cid)
    elif daemon == "dockerd":
        docker = Docker(DOCKER_SOCKET)
        for cid in docker.cli("ps", "-aq", "--filter", f"label={TEST_LABEL}").split():
            docker.remove(cid)
    elif daemon == "podman":
        podman = Podman(podman_env)
        for cid in podman.cli("ps", "-aq", "--filter", f"label={TEST_LABEL}").split():
            podman.remove(cid)


# --- containers ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Pod:
    """A pod made the way the kubelet's CRI calls would: a sandbox and its containers."""

    name: str
    namespace: str
    uid: str
    labels: Mapping[str, str]
    sandbox_id: str
    containers: Mapping[str, str]  # kubernetes container name -> container id


def kubelet_sandbox_labels(name: str, namespace: str, uid: str) -> dict[str, str]:
    """The labels the kubelet puts on a sandbox besides the pod's own."""
    return {
        "io.kubernetes.pod.name": name,
        "io.kubernetes.pod.namespace": namespace,
        "io.kubernetes.pod.uid": uid,
    }


def kubelet_container_labels(name: str, namespace: str, uid: str, container: str) -> dict[str, str]:
    """The labels the kubelet puts on a pod's container."""
    return {
        **kubelet_sandbox_labels(name, namespace, uid),
        "io.kubernetes.container.name": container,
    }


class Ctr:
    """containerd's ``ctr`` on one namespace: containers from a plain rootfs directory."""

    def __init__(self, address: str, namespace: str = "k8s.io") -> None:
        self.address = address
        self.namespace = namespace

    def ctr(self, *args: str) -> str:
        """Run ``ctr`` on this daemon and namespace."""
        return run(["ctr", "--address", self.address, "--namespace", self.namespace, *args])

    def images(self) -> list[str]:
        """The image references in this namespace."""
        return self.ctr("images", "ls", "-q").split()

    def run(
        self,
        cid: str,
        rootfs: Path,
        argv: Sequence[str] = SLEEP,
        labels: Mapping[str, str] | None = None,
        annotations: Mapping[str, str] | None = None,
    ) -> int:
        """``ctr run -d --rootfs``; returns the init pid. ``argv[0]`` must be absolute."""
        options = ["run", "--detach", "--null-io", "--label", f"{TEST_LABEL}=1"]
        for key, value in (labels or {}).items():
            options += ["--label", f"{key}={value}"]
        for key, value in (annotations or {}).items():
            options += ["--annotation", f"{key}={value}"]
        pid_file = rootfs.parent / f"{cid}.pid"
        options += ["--pid-file", str(pid_file), "--rootfs", str(rootfs), cid, *argv]
        self.ctr(*options)
        return int(pid_file.read_text())

    def run_pod(
        self,
        rootfs: Path,
        name: str,
        namespace: str,
        pod_labels: Mapping[str, str],
        containers: Sequence[str],
    ) -> Pod:
        """A sandbox and containers labelled and annotated as containerd's CRI plugin does."""
        uid = str(uuid.uuid4())
        sandbox_id = unique("sandbox")
        cri = {
            "io.kubernetes.cri.sandbox-id": sandbox_id,
            "io.kubernetes.cri.sandbox-name": name,
            "io.kubernetes.cri.sandbox-namespace": namespace,
        }
        self.run(
            sandbox_id,
            rootfs,
            labels={
                **pod_labels,
                **kubelet_sandbox_labels(name, namespace, uid),
                "io.cri-containerd.kind": "sandbox",
            },
            annotations={**cri, "io.kubernetes.cri.container-type": "sandbox"},
        )
        ids = {}
        for container in containers:
            ids[container] = cid = unique(container)
            self.run(
                cid,
                rootfs,
                labels={
                    **kubelet_container_labels(name, namespace, uid, container),
                    "io.cri-containerd.kind": "container",
                },
                annotations={
                    **cri,
                    "io.kubernetes.cri.container-type": "container",
                    "io.kubernetes.cri.container-name": container,
                },
            )
        return Pod(name, namespace, uid, dict(pod_labels), sandbox_id, ids)

    def exec(self, cid: str, *argv: str) -> str:
        """Run ``argv`` in a running container (``ctr tasks exec``); its output."""
        return self.ctr("tasks", "exec", "--exec-id", unique("exec"), cid, *argv)

    def run_once(self, cid: str, rootfs: Path, *argv: str) -> str:
        """``ctr run --rm``: a container that runs ``argv`` and is gone; its output."""
        return self.ctr(
            "run", "--rm", "--label", f"{TEST_LABEL}=1", "--rootfs", str(rootfs), cid, *argv
        )

    def stop(self, cid: str) -> None:
        """Kill the task and delete it; the container record stays."""
        with contextlib.suppress(RuntimeError):
            self.ctr("tasks", "kill", "--signal", "SIGKILL", cid)
        wait_for(lambda: "STOPPED" in self._status(cid) or not self._status(cid), f"{cid} to stop")
        with contextlib.suppress(RuntimeError):
            self.ctr("tasks", "delete", cid)

    def _status(self, cid: str) -> str:
        for line in self.ctr("tasks", "ls").splitlines()[1:]:
            fields = line.split()
            if fields and fields[0] == cid:
                return fields[-1]
        return ""

    def remove(self, cid: str) -> None:
        """Stop the task and delete the container."""
        self.stop(cid)
        with contextlib.suppress(RuntimeError):
            self.ctr("containers", "delete", cid)

    def remove_pod(self, pod: Pod) -> None:
        """Remove a pod's containers, then its sandbox."""
        for cid in pod.containers.values():
            self.remove(cid)
        self.remove(pod.sandbox_id)

    @contextlib.contextmanager
    def running(self, cid: str, rootfs: Path, **kwargs: Any) -> Iterator[int]:
        """A container for the duration of a ``with``: yields its pid."""
        pid = self.run(cid, rootfs, **kwargs)
        try:
            yield pid
        finally:
            self.remove(cid)


class Docker:
    """The docker CLI on one daemon socket."""

    default_image = IMAGE

    def __init__(self, socket: str) -> None:
        self.socket = socket

    def cli(self, *args: str) -> str:
        """Run ``docker`` against this daemon."""
        return run(["docker", "--host", f"unix://{self.socket}", *args])

    def run(self, name: str, labels: Mapping[str, str] | None = None) -> str:
        """Start a sleeping container without network; returns its full id."""
        options = ["run", "--detach", "--network", "none", "--name", name]
        for key, value in {TEST_LABEL: "1", **(labels or {})}.items():
            options += ["--label", f"{key}={value}"]
        return self.cli(*options, self.default_image, *SLEEP).strip()

    def pid(self, cid: str) -> int:
        """The init pid of a running container."""
        return int(self.cli("inspect", "--format", "{{.State.Pid}}", cid))

    def remove(self, cid: str) -> None:
        """Kill and remove a container."""
        self.cli("rm", "--force", cid)


class Podman(Docker):
    """The podman CLI (it works on the same storage as the API service)."""

    default_image = f"localhost/{IMAGE}"

    def __init__(self, env: Mapping[str, str]) -> None:
        super().__init__(PODMAN_SOCKET)
        self.env = dict(env)

    def cli(self, *args: str) -> str:
        """Run ``podman`` with the test containers.conf."""
        return run(["podman", *args], env=self.env)

    def remove(self, cid: str) -> None:
        """Kill and remove a container (no 10 s grace: sleep as pid 1 ignores SIGTERM)."""
        self.cli("rm", "--force", "--time", "0", cid)


# --- watching ------------------------------------------------------------------------------


class Watcher:
    """Runs ``runtime.watch()`` in a thread and collects what it yields (or raises)."""

    def __init__(self, runtime: Any) -> None:
        self.runtime = runtime
        self.events: queue.Queue[Any] = queue.Queue()
        self.error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        try:
            for event in self.runtime.watch():
                self.events.put(event)
        except BaseException as exc:  # handed to the test through .error
            self.error = exc
        finally:
            self.events.put(None)

    def next(self, cid: str, timeout: float = 20.0) -> Any:
        """The next event about container ``cid``, skipping others."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                event = self.events.get(timeout=max(0.0, deadline - time.monotonic()))
            except queue.Empty:
                raise TimeoutError(f"no event for {cid} in {timeout} s") from None
            if event is None:
                raise AssertionError(f"watch ended: {self.error!r}")
            if event.container.id == cid:
                return event

    def drain(self, seconds: float) -> list[Any]:
        """Everything that arrives within ``seconds``."""
        found = []
        deadline = time.monotonic() + seconds
        while (left := deadline - time.monotonic()) > 0:
            try:
                event = self.events.get(timeout=left)
            except queue.Empty:
                break
            if event is not None:
                found.append(event)
        return found

    def join(self, timeout: float = 10.0) -> bool:
        """Wait for the watch thread to end; whether it did."""
        self._thread.join(timeout)
        return not self._thread.is_alive()

    def close(self) -> None:
        """Close the runtime (ending the watch) and wait for the thread."""
        self.runtime.close()
        self.join()


def expected_container(
    runtime: str,
    cid: str,
    name: str,
    pid: int,
    labels: Mapping[str, str],
    image: str = "",
    k8s: K8sMeta | None = None,
) -> Container:
    """The Container a runtime client must report for `pid`, its kernel ids read here."""
    cgroup = Path(f"/proc/{pid}/cgroup").read_text().splitlines()
    return Container(
        id=cid,
        name=name,
        runtime=runtime,
        image=image,
        pid=pid,
        mntns=os.stat(f"/proc/{pid}/ns/mnt").st_ino,
        netns=os.stat(f"/proc/{pid}/ns/net").st_ino,
        cgroup=next(line[3:] for line in cgroup if line.startswith("0::")),
        labels=labels,
        k8s=k8s or K8sMeta(),
    )
