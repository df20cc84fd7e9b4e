"""Bring the cluster up, check it, take it down.

`up` starts, in order: etcd, the API server (TLS, RBAC + Node authorizer,
service-account tokens), controller-manager and scheduler in the host's
network namespace; then per node a containerd of its own (own socket, root,
state, runc root, CNI conf, pod netns under its state), the images, a
kubelet and a kube-proxy, node2's inside its network namespace.  Every part
lives under STATE; its daemons' pids are in STATE/pids.

`down` works from what exists, not from what `up` remembers, so it also
cleans after a killed run: pods deleted through the API while it answers
(their sandboxes then go through CNI DEL and their shims exit), then every
daemon, every process left in the nodes' cgroups, every mount under STATE,
the cgroups, the network, the kernel settings the kubelet changed, and the
files other programs keep about our containers.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import ssl
import time
import urllib.request
from pathlib import Path

from espia_cluster import layout, network, pki, proc
from espia_cluster.proc import ClusterError, run, say

_CONTROL_PLANE = ("etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler")
_NODE_DAEMONS = ("containerd", "kubelet", "kube-proxy")
_READY_TIMEOUT = 180.0


def _bin(name: str) -> str:
    return str(layout.BIN / name)


def _daemons() -> list[str]:
    return [*_CONTROL_PLANE, *(f"{d}-{n.name}" for n in layout.NODES for d in _NODE_DAEMONS)]


def kubectl(*args: str, check: bool = True, timeout: float = 60) -> str:
    return run(
        [_bin("kubectl"), f"--kubeconfig={layout.ADMIN_KUBECONFIG}", *args],
        check=check,
        timeout=timeout,
    ).stdout


# --- health ----------------------------------------------------------------------------------


def _get(url: str, client: str | None = None) -> bool:
    """True if ``url`` answers 200 (with PKI/client's certificate for https)."""
    context = None
    if client is not None:
        if not (layout.PKI / "complete").exists():
            return False
        context = ssl.create_default_context(cafile=str(layout.PKI / "ca.crt"))
        context.load_cert_chain(layout.PKI / f"{client}.crt", layout.PKI / f"{client}.key")
    try:
        with urllib.request.urlopen(url, timeout=3, context=context) as answer:
            return bool(answer.status == 200)
    except (OSError, ValueError):
        return False


def _api_ready() -> bool:
    # Without our API server the address is no longer on this machine: a request would
    # follow the default route off it.
    if not proc.running("kube-apiserver"):
        return False
    return _get(f"{layout.API_SERVER}/readyz", "admin")


def _nodes() -> dict[str, bool]:
    """Each registered node and whether it is Ready."""
    out = kubectl("get", "nodes", "-o", "json", check=False)
    try:
        items = json.loads(out)["items"]
    except (ValueError, KeyError):
        return {}
    ready = {}
    for item in items:
        conditions = item.get("status", {}).get("conditions", [])
        ready[item["metadata"]["name"]] = any(
            c["type"] == "Ready" and c["status"] == "True" for c in conditions
        )
    return ready


def status(verbose: bool = False) -> bool:
    """True when every daemon runs, the API answers and every node is Ready."""
    healthy = True
    for name in _daemons():
        up = proc.running(name)
        healthy &= up
        if verbose:
            print(f"{name:28} {'running' if up else 'not running'}")
    api = healthy and _api_ready()
    nodes = _nodes() if api else {}
    for node in layout.NODES:
        ready = nodes.get(node.name, False)
        healthy &= ready
        if verbose:
            print(f"{node.name:28} {'Ready' if ready else 'not Ready'}")
    if verbose:
        print(f"{'kubeconfig':28} {layout.ADMIN_KUBECONFIG}")
    return healthy and api


# --- configuration ---------------------------------------------------------------------------


def _write(path: Path, content: object) -> Path:
    """Write JSON (which every component reads as YAML) or text."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(content if isinstance(content, str) else json.dumps(content, indent=1) + "\n")
    return path


def _containerd_config(node: layout.Node) -> Path:
    state = node.dir / "containerd-state"
    cri = 'plugins."io.containerd.grpc.v1.cri"'
    return _write(
        node.dir / "containerd.toml",
        f"""\
# containerd for {node.name} alone: nothing shared with the machine's containerd.
version = 2
root = "{node.dir / "containerd"}"
state = "{state}"
oom_score = 0
[grpc]
  address = "{node.containerd_socket}"
[ttrpc]
  address = "{node.containerd_socket}.ttrpc"
[plugins."io.containerd.internal.v1.opt"]
  path = "{node.dir / "containerd-opt"}"
[{cri}]
  sandbox_image = "{layout.IMAGE_NAMES["pause"]}"
  stream_server_address = "127.0.0.1"
  stream_server_port = "0"
  # No CAP_SYS_RESOURCE here: runc cannot lower a sandbox's oom_score_adj.
  restrict_oom_score_adj = true
  disable_apparmor = true
  tolerate_missing_hugetlb_controller = true
  disable_hugetlb_controller = true
  netns_mounts_under_state_dir = true
  [{cri}.containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"
    [{cri}.containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [{cri}.containerd.runtimes.runc.options]
        SystemdCgroup = false
        Root = "{node.dir / "runc"}"
  [{cri}.cni]
    bin_dir = "/usr/lib/cni"
    conf_dir = "{node.dir / "cni"}"
    max_conf_num = 1
""",
    )


def _cni_config(node: layout.Node) -> None:
    _write(
        node.dir / "cni" / f"10-{node.cni_network}.conflist",
        {
            "cniVersion": "1.0.0",
            "name": node.cni_network,
            "plugins": [
                {
                    "type": "bridge",
                    "bridge": node.bridge,
                    "isGateway": True,
                    "ipMasq": False,  # routed, not masqueraded: no iptables rules of CNI's
                    "hairpinMode": True,
                    "ipam": {
                        "type": "host-local",
                        "dataDir": str(node.dir / "cni-ipam"),
                        "ranges": [[{"subnet": node.pod_subnet}]],
                        "routes": [{"dst": "0.0.0.0/0"}],
                    },
                }
            ],
        },
    )


def _kubelet_config(node: layout.Node) -> Path:
    pki_dir = layout.PKI
    return _write(
        node.dir / "kubelet.json",
        {
            "apiVersion": "kubelet.config.k8s.io/v1beta1",
            "kind": "KubeletConfiguration",
            "address": node.ip,
            "readOnlyPort": 0,
            "healthzBindAddress": "127.0.0.1",
            "authentication": {
                "anonymous": {"enabled": False},
                "webhook": {"enabled": True},
                "x509": {"clientCAFile": str(pki_dir / "ca.crt")},
            },
            "authorization": {"mode": "Webhook"},
            "tlsCertFile": str(pki_dir / f"kubelet-{node.name}-serving.crt"),
            "tlsPrivateKeyFile": str(pki_dir / f"kubelet-{node.name}-serving.key"),
            "containerRuntimeEndpoint": f"unix://{node.containerd_socket}",
            "imageServiceEndpoint": f"unix://{node.containerd_socket}",
            # containerd 1.6 cannot tell the driver (no CRI RuntimeConfig); no systemd here.
            "cgroupDriver": "cgroupfs",
            # Each kubelet kills pod cgroups it does not know under its root: one each.
            "cgroupRoot": f"/{node.cgroup}",
            "failCgroupV1": False,  # this machine mounts cgroup v1 hierarchies
            "failSwapOn": False,
            "oomScoreAdj": 0,  # negative values are refused (no CAP_SYS_RESOURCE)
            # The kubelet removes log folders of pods it does not know: one each.
            "podLogsDir": str(node.pod_logs),
            "volumePluginDir": str(node.dir / "volume-plugins"),
            "resolvConf": str(layout.CONFIG / "resolv.conf"),
            "clusterDomain": "cluster.local",
            # Imported images cannot be pulled again: never collect them.
            "imageGCHighThresholdPercent": 100,
            "imageGCLowThresholdPercent": 99,
            "evictionHard": {
                "memory.available": "100Mi",
                "nodefs.available": "1%",
                "nodefs.inodesFree": "1%",
                "imagefs.available": "1%",
            },
            "serializeImagePulls": False,
            "maxPods": 60,
            "rotateCertificates": False,
            "registerNode": True,
        },
    )


def _kube_proxy_config(node: layout.Node) -> Path:
    return _write(
        node.dir / "kube-proxy.json",
        {
            "apiVersion": "kubeproxy.config.k8s.io/v1alpha1",
            "kind": "KubeProxyConfiguration",
            "clientConnection": {"kubeconfig": str(layout.CONFIG / "kube-proxy.kubeconfig")},
            "hostnameOverride": node.name,
            "mode": "iptables",
            "clusterCIDR": layout.POD_CIDR,
            "healthzBindAddress": "127.0.0.1:10256",
            "metricsBindAddress": "127.0.0.1:10249",
            # Leave the machine's settings alone: no conntrack sizing, no route_localnet.
            "conntrack": {
                "maxPerCore": 0,
                "tcpEstablishedTimeout": "0s",
                "tcpCloseWaitTimeout": "0s",
            },
            "iptables": {"localhostNodePorts": False},
        },
    )


# --- up --------------------------------------------------------------------------------------


def _save_sysctls() -> None:
    saved = layout.STATE / "sysctls.json"
    if not saved.exists():
        values = {n: Path("/proc/sys", n).read_text().strip() for n in layout.KUBELET_SYSCTLS}
        _write(saved, values)


def _restore_sysctls(names: tuple[str, ...] = layout.KUBELET_SYSCTLS) -> None:
    saved = layout.STATE / "sysctls.json"
    if saved.exists():
        values = json.loads(saved.read_text())
        for name in names:
            Path("/proc/sys", name).write_text(values[name] + "\n")


def _start(name: str, argv: list[str], ready: object = None) -> None:
    proc.start(name, argv)
    if callable(ready):
        proc.wait_until(lambda: ready() or not _check_running(name), name, 60)
        _check_running(name)


def _check_running(name: str) -> bool:
    if not proc.running(name):
        raise ClusterError(proc.exited(name))
    return True


def _control_plane() -> None:
    pki_dir = layout.PKI
    _start(
        "etcd",
        [
            _bin("etcd"),
            "--name=espia",
            f"--data-dir={layout.ETCD_DATA}",
            "--listen-client-urls=http://127.0.0.1:2379",
            "--advertise-client-urls=http://127.0.0.1:2379",
            "--listen-peer-urls=http://127.0.0.1:2380",
            "--initial-advertise-peer-urls=http://127.0.0.1:2380",
            "--initial-cluster=espia=http://127.0.0.1:2380",
            "--listen-metrics-urls=http://127.0.0.1:2381",
            "--unsafe-no-fsync",  # a throwaway cluster: speed over durability
            "--log-level=warn",
        ],
        lambda: _get("http://127.0.0.1:2379/health"),
    )
    _start(
        "kube-apiserver",
        [
            _bin("kube-apiserver"),
            "--etcd-servers=http://127.0.0.1:2379",
            f"--bind-address={layout.CONTROL_PLANE_IP}",
            f"--secure-port={layout.API_PORT}",
            f"--advertise-address={layout.CONTROL_PLANE_IP}",
            f"--tls-cert-file={pki_dir / 'apiserver.crt'}",
            f"--tls-private-key-file={pki_dir / 'apiserver.key'}",
            f"--client-ca-file={pki_dir / 'ca.crt'}",
            f"--kubelet-client-certificate={pki_dir / 'apiserver-kubelet-client.crt'}",
            f"--kubelet-client-key={pki_dir / 'apiserver-kubelet-client.key'}",
            "--kubelet-preferred-address-types=InternalIP,Hostname",
            "--service-account-issuer=https://kubernetes.default.svc.cluster.local",
            f"--service-account-key-file={pki_dir / 'sa.pub'}",
            f"--service-account-signing-key-file={pki_dir / 'sa.key'}",
            f"--service-cluster-ip-range={layout.SERVICE_CIDR}",
            "--authorization-mode=Node,RBAC",
            "--enable-admission-plugins=NodeRestriction",
            "--allow-privileged=true",  # the espia agent is a privileged pod
            "--profiling=false",
        ],
        _api_ready,
    )
    # The API server's own identity towards kubelets: exec, logs, port-forward.
    run(
        [_bin("kubectl"), f"--kubeconfig={layout.ADMIN_KUBECONFIG}", "apply", "-f", "-"],
        input=json.dumps(
            {
                "apiVersion": "rbac.authorization.k8s.io/v1",
                "kind": "ClusterRoleBinding",
                "metadata": {"name": "kube-apiserver-kubelet-client"},
                "roleRef": {
                    "apiGroup": "rbac.authorization.k8s.io",
                    "kind": "ClusterRole",
                    "name": "system:kubelet-api-admin",
                },
                "subjects": [
                    {
                        "apiGroup": "rbac.authorization.k8s.io",
                        "kind": "User",
                        "name": "kube-apiserver-kubelet-client",
                    }
                ],
            }
        ),
    )
    kcm = str(layout.CONFIG / "controller-manager.kubeconfig")
    _start(
        "kube-controller-manager",
        [
            _bin("kube-controller-manager"),
            f"--kubeconfig={kcm}",
            f"--authentication-kubeconfig={kcm}",
            f"--authorization-kubeconfig={kcm}",
            "--bind-address=127.0.0.1",
            "--leader-elect=false",
            "--use-service-account-credentials=true",
            f"--service-account-private-key-file={pki_dir / 'sa.key'}",
            f"--root-ca-file={pki_dir / 'ca.crt'}",
            f"--cluster-signing-cert-file={pki_dir / 'ca.crt'}",
            f"--cluster-signing-key-file={pki_dir / 'ca.key'}",
            f"--service-cluster-ip-range={layout.SERVICE_CIDR}",
        ],
    )
    scheduler = str(layout.CONFIG / "scheduler.kubeconfig")
    config = _write(
        layout.CONFIG / "scheduler.json",
        {
            "apiVersion": "kubescheduler.config.k8s.io/v1",
            "kind": "KubeSchedulerConfiguration",
            "clientConnection": {"kubeconfig": scheduler},
            "leaderElection": {"leaderElect": False},
        },
    )
    _start(
        "kube-scheduler",
        [
            _bin("kube-scheduler"),
            f"--config={config}",
            f"--authentication-kubeconfig={scheduler}",
            f"--authorization-kubeconfig={scheduler}",
            "--bind-address=127.0.0.1",
        ],
    )


def _cgroups(node: layout.Node) -> None:
    """The node's cgroup root, in every mounted hierarchy (the kubelet checks each)."""
    for hierarchy in _hierarchies():
        (hierarchy / node.cgroup).mkdir(exist_ok=True)
        if hierarchy.name == "cpuset":
            for name in ("cpuset.cpus", "cpuset.mems"):
                (hierarchy / node.cgroup / name).write_text((hierarchy / name).read_text())


def _hierarchies() -> list[Path]:
    return [p for p in layout.CGROUP_ROOT.iterdir() if p.is_dir() and os.path.ismount(p)]


def _ctr(node: layout.Node, *args: str, check: bool = True, timeout: float = 300) -> str:
    return run(
        ["ctr", f"--address={node.containerd_socket}", "--namespace=k8s.io", *args],
        check=check,
        timeout=timeout,
    ).stdout


def _containerd_ready(node: layout.Node) -> bool:
    return (
        node.containerd_socket.exists()
        and not run(
            ["ctr", f"--address={node.containerd_socket}", "version"], check=False, timeout=10
        ).returncode
    )


def import_image(archive: Path) -> None:
    """Load an image tar into the containerd of every node (namespace k8s.io)."""
    if not archive.is_file():
        raise ClusterError(f"import: no such file: {archive}")
    for node in layout.NODES:
        if not _containerd_ready(node):
            raise ClusterError(f"import: {node.name}'s containerd is not running (make cluster)")
        _ctr(node, "images", "import", str(archive))
        say(f"imported {archive.name} into {node.name}")


def _node(node: layout.Node) -> None:
    for sub in ("containerd", "cni-ipam", "volume-plugins", "kubelet"):
        (node.dir / sub).mkdir(parents=True, exist_ok=True)
    node.pod_logs.mkdir(parents=True, exist_ok=True)
    _cgroups(node)
    _cni_config(node)
    _start(
        f"containerd-{node.name}",
        [*node.wrap, "containerd", f"--config={_containerd_config(node)}"],
        lambda: _containerd_ready(node),
    )
    for name in layout.IMAGE_NAMES:
        _ctr(node, "images", "import", str(layout.IMAGES / f"{name}.tar"))
    _start(
        f"kubelet-{node.name}",
        [
            *node.wrap,
            _bin("kubelet"),
            f"--config={_kubelet_config(node)}",
            f"--kubeconfig={layout.CONFIG / f'kubelet-{node.name}.kubeconfig'}",
            f"--hostname-override={node.name}",
            f"--node-ip={node.ip}",
            f"--root-dir={node.dir / 'kubelet'}",
        ],
    )
    _start(
        f"kube-proxy-{node.name}",
        [*node.wrap, _bin("kube-proxy"), f"--config={_kube_proxy_config(node)}"],
    )


def _wait_ready() -> None:
    """Print each node's progress until all are Ready; a daemon that dies ends the wait."""
    deadline = time.monotonic() + _READY_TIMEOUT
    seen: dict[str, bool] = {}
    while True:
        for name in _daemons():
            _check_running(name)
        nodes = _nodes()
        for name, ready in sorted(nodes.items()):
            if seen.get(name) != ready:
                say(f"{name}: {'Ready' if ready else 'registered, not Ready yet'}")
        seen = nodes
        if all(nodes.get(node.name) for node in layout.NODES):
            return
        if time.monotonic() > deadline:
            missing = [n.name for n in layout.NODES if not nodes.get(n.name)]
            raise ClusterError(
                f"not Ready after {_READY_TIMEOUT:.0f} s: {', '.join(missing)} "
                f"(logs in {layout.LOGS})"
            )
        time.sleep(1)


def up() -> None:
    """Start the cluster, or reuse it if healthy; clean what a killed run left first."""
    if status():
        say("the cluster is already up and healthy: reusing it")
        return
    if leftovers():
        say("cleaning up what a previous run left")
        down()
    started = time.monotonic()
    for path in (layout.STATE, layout.CONFIG, layout.LOGS):
        path.mkdir(parents=True, exist_ok=True)
    for log in layout.LOGS.glob("*.log"):
        log.unlink()
    _save_sysctls()
    say("network")
    network.up()
    pki.make()
    # Pods get a resolver that answers nothing: no DNS query leaves the machine.
    _write(layout.CONFIG / "resolv.conf", f"nameserver {layout.CONTROL_PLANE_IP}\n")
    say("control plane")
    _control_plane()
    for node in layout.NODES:
        say(f"{node.name}: containerd, images, kubelet")
        _node(node)
    _wait_ready()
    # The kubelet set kernel.panic_on_oops=1 at start: an oops must not reboot this machine.
    _restore_sysctls(("kernel/panic_on_oops",))
    proc.wait_until(
        lambda: bool(kubectl("get", "serviceaccount", "default", "-o", "name", check=False)),
        "the default service account",
        60,
    )
    say(f"up in {time.monotonic() - started:.1f} s; export KUBECONFIG={layout.ADMIN_KUBECONFIG}")


# --- down ------------------------------------------------------------------------------------


def _delete_workloads() -> None:
    """Delete every workload and pod while the API answers, and wait for their sandboxes.

    The kubelets stop each sandbox through the CRI: CNI DEL frees its address,
    its netns is unmounted and its shim exits, removing its socket.
    """
    if not _api_ready():
        return
    kinds = "daemonsets,deployments,replicasets,statefulsets,jobs,cronjobs"
    # Orphaned, so that no pod is left to the garbage collector and its default 30 s grace;
    # not --force either, which the kubelet also answers with the pod's full grace.
    kubectl("delete", kinds, "--all", "--all-namespaces", "--cascade=orphan", check=False)
    kubectl(
        "delete",
        "pods",
        "--all",
        "--all-namespaces",
        "--grace-period=1",
        "--timeout=30s",
        check=False,
    )
    with contextlib.suppress(ClusterError):
        proc.wait_until(
            lambda: all(
                not _containerd_ready(n) or not _ctr(n, "tasks", "ls", "-q", check=False).strip()
                for n in layout.NODES
            ),
            "the pods' containers to stop",
            30,
        )


def _remove_tasks(node: layout.Node) -> None:
    """Kill and delete what the kubelet did not (a killed run): the shims then exit."""
    if not _containerd_ready(node):
        return
    for task in _ctr(node, "tasks", "ls", "-q", check=False).split():
        _ctr(node, "tasks", "kill", "--signal=SIGKILL", task, check=False)
    for task in _ctr(node, "tasks", "ls", "-q", check=False).split():
        for _ in range(50):
            if not _ctr(node, "tasks", "delete", task, check=False, timeout=10).strip():
                break
            time.sleep(0.1)
    for container in _ctr(node, "containers", "ls", "-q", check=False).split():
        _ctr(node, "containers", "delete", container, check=False)


def _cgroup_processes(node: layout.Node) -> list[int]:
    pids: set[int] = set()
    for hierarchy in _hierarchies():
        for procs in (hierarchy / node.cgroup).rglob("cgroup.procs"):
            with contextlib.suppress(OSError):
                pids.update(int(p) for p in procs.read_text().split())
    return sorted(pids)


def _remove_cgroups(node: layout.Node) -> None:
    for hierarchy in _hierarchies():
        root = hierarchy / node.cgroup
        if not root.exists():
            continue
        for directory in sorted((p for p in root.rglob("*") if p.is_dir()), reverse=True):
            with contextlib.suppress(OSError):
                directory.rmdir()
        with contextlib.suppress(OSError):
            root.rmdir()


def _our_mounts() -> list[str]:
    mounts = []
    netns = {str(layout.NETNS_DIR / n.netns) for n in layout.NODES if n.netns}
    for line in Path("/proc/self/mountinfo").read_text().splitlines():
        point = line.split()[4].encode().decode("unicode_escape")
        if point.startswith(f"{layout.STATE}/") or point in netns:
            mounts.append(point)
    return mounts


def _unmount() -> None:
    for _ in range(5):  # stacked mounts surface again after their top goes
        mounts = _our_mounts()
        if not mounts:
            return
        for point in sorted(mounts, key=len, reverse=True):
            run(["umount", "--lazy", point], check=False)


def _foreign_files() -> list[Path]:
    """Files other programs keep about our containers, outside STATE."""
    found: list[Path] = []
    if layout.CNI_CACHE.is_dir():
        prefixes = tuple(f"{n.cni_network}-" for n in layout.NODES)
        found += [p for p in layout.CNI_CACHE.iterdir() if p.name.startswith(prefixes)]
    if layout.CONTAINER_LOG_LINKS.is_dir():
        for link in layout.CONTAINER_LOG_LINKS.iterdir():
            with contextlib.suppress(OSError):
                if link.is_symlink() and os.readlink(link).startswith(f"{layout.STATE}/"):
                    found.append(link)
    return found


def leftovers() -> list[str]:
    """Everything of a cluster that still exists outside STATE, one line each."""
    found = [f"process {pid}: {_argv(pid)}" for pid in proc.strays()]
    for node in layout.NODES:
        found += [f"process {pid} in cgroup {node.cgroup}" for pid in _cgroup_processes(node)]
        found += [f"cgroup {h / node.cgroup}" for h in _hierarchies() if (h / node.cgroup).exists()]
    found += [f"mount {point}" for point in _our_mounts()]
    found += network.leftovers()
    found += [f"file {path}" for path in _foreign_files()]
    return found


def _argv(pid: int) -> str:
    with contextlib.suppress(OSError):
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()[:120]
    return "?"


def down() -> None:
    """Stop everything and remove all it made (STATE keeps the PKI, configs and logs)."""
    started = time.monotonic()
    _delete_workloads()
    say(f"pods stopped ({time.monotonic() - started:.1f} s)")
    for node in layout.NODES:
        proc.stop(f"kube-proxy-{node.name}")
        proc.stop(f"kubelet-{node.name}")
    for node in layout.NODES:
        _remove_tasks(node)
    for node in layout.NODES:
        proc.kill(_cgroup_processes(node), grace=2)
        proc.stop(f"containerd-{node.name}")
    say(f"nodes stopped ({time.monotonic() - started:.1f} s)")
    for name in reversed(_CONTROL_PLANE):
        proc.stop(name, grace=3)  # its data goes next: no need for a graceful shutdown
    proc.kill(proc.strays(), grace=5)  # shims, and daemons whose pid files were lost
    _unmount()
    for node in layout.NODES:
        _remove_cgroups(node)
    network.down()
    _restore_sysctls()
    for path in _foreign_files():
        path.unlink(missing_ok=True)
    for path in (layout.ETCD_DATA, layout.PIDS, *(node.dir for node in layout.NODES)):
        shutil.rmtree(path, ignore_errors=True)
    (layout.STATE / "sysctls.json").unlink(missing_ok=True)
    if remaining := leftovers():
        raise ClusterError("left behind: " + "; ".join(remaining))
    say(f"down in {time.monotonic() - started:.1f} s: nothing left")
