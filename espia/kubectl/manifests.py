"""What `kubectl espia deploy` creates: plain objects, the same for --print-only and the API.

    Namespace espia             where the agent lives (--namespace)
    ServiceAccount espia-agent  the agent's identity, with no API token mounted
    ClusterRole espia-agent     no rules: the agent reads containers from the node's
                                runtime and the kernel, never from the API server
    ClusterRoleBinding          ties the two, so that a rule added later has a home
    DaemonSet espia-agent       one agent per node, serving on its pod's loopback

Every object carries ``app.kubernetes.io/name=espia`` (undeploy finds them by
it).  The agent's pod gets the capabilities eBPF needs on a kernel with
CAP_BPF (5.8+) and no more, host PIDs (/proc) and read-only host mounts.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import yaml

from espia._version import __version__
from espia.errors import UsageError

NAME = "espia-agent"
LABEL = "app.kubernetes.io/name"
LABELS = {LABEL: "espia"}
AGENT_PORT = 7450
# `--metrics`: the agent's Prometheus endpoint, on the pod's address (espia.agent.metrics).
METRICS_PORT = 9464
LISTEN = f"127.0.0.1:{AGENT_PORT}"
DEFAULT_IMAGE = f"localhost/espia:v{__version__}"
NODE_VARIABLE = "$(NODE_NAME)"
PULL_POLICIES = ("Always", "IfNotPresent", "Never")

# Why each capability (and only these): the agent loads and attaches eBPF programs and
# reads other processes' namespaces.  CAP_SYS_ADMIN is not needed on kernels with
# CAP_BPF; CAP_SYS_RESOURCE is not asked for (memory for maps is charged to the cgroup).
CAPABILITIES = (
    "BPF",  # load programs, create maps, read ring buffers
    "PERFMON",  # attach tracepoints (perf_event_open), bpf_probe_read
    "NET_ADMIN",  # cgroup_skb and socket-filter programs (trace dns, sni)
    "SYS_PTRACE",  # read /proc/<pid>/ns and exe of every process
    "DAC_READ_SEARCH",  # read tracefs and /proc files that are root-only
)

# The agent's RBAC rules, each with why.  None today: say so where the rules would be.
RULES_COMMENT = (
    "# No rules: the agent never calls the API server.  It reads containers and pods\n"
    "# from the node's container runtime (CRI labels) and events from the kernel, so\n"
    "# its ServiceAccount can read nothing (secrets included) and write nothing.\n"
)


@dataclass(frozen=True)
class DeployOptions:
    namespace: str = "espia"
    image: str = DEFAULT_IMAGE
    pull_policy: str = "IfNotPresent"
    node_selector: dict[str, str] = field(default_factory=dict)
    # containerd's socket on each node ("$(NODE_NAME)" in it is the node's name); "": the
    # agent asks its node's kubelet (espia.agent.kubelet), and no host path is mounted.
    runtime_socket: str = ""
    # Metric sets the agents serve on METRICS_PORT ("dns,tcp"); "" for none.
    metrics: str = ""


def parse_node_selector(text: str | None) -> dict[str, str]:
    """ "key=value,key2=value2" as a DaemonSet nodeSelector."""
    selector: dict[str, str] = {}
    for term in (text or "").split(","):
        if not term.strip():
            continue
        key, sep, value = term.partition("=")
        if not sep or not key.strip():
            raise UsageError(f"--node-selector {text!r}: expected key=value[,key=value]")
        selector[key.strip()] = value.strip()
    return selector


def _meta(name: str, namespace: str | None = None) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": name, "labels": dict(LABELS)}
    if namespace:
        meta["namespace"] = namespace
    return meta


def _socket_mount(path: str) -> tuple[dict[str, Any], dict[str, Any], str]:
    """(volume, mount, path in the container) for the runtime's socket.

    A "$(NODE_NAME)" in the path becomes a subPathExpr: the host directory
    before it is mounted, and each pod sees its own node's part.
    """
    if not path.startswith("/"):
        raise UsageError(f"--runtime-socket {path!r}: must be an absolute path")
    inside = "/host/runtime/" + path.rsplit("/", 1)[1]
    if NODE_VARIABLE in path:
        base, _, rest = path.partition(NODE_VARIABLE)
        if not base.endswith("/") or base == "/":
            raise UsageError(f"--runtime-socket {path!r}: $(NODE_NAME) must name a directory")
        volume = {"name": "runtime", "hostPath": {"path": base.rstrip("/"), "type": "Directory"}}
        sub = (NODE_VARIABLE + rest).rsplit("/", 1)[0]
        mount = {"name": "runtime", "mountPath": "/host/runtime", "subPathExpr": sub}
        return volume, mount, inside
    directory = path.rsplit("/", 1)[0] or "/"
    volume = {"name": "runtime", "hostPath": {"path": directory, "type": "Directory"}}
    return volume, {"name": "runtime", "mountPath": "/host/runtime"}, inside


def _probe(period: int) -> dict[str, Any]:
    # An exec of the health RPC: the agent listens on loopback only, where the
    # kubelet's own gRPC probe (which dials the pod's IP) cannot reach it.
    return {
        "exec": {"command": ["espia", "agent", "--health", "--listen", LISTEN]},
        "periodSeconds": period,
        "timeoutSeconds": 5,
        "failureThreshold": 3,
    }


def daemonset(options: DeployOptions) -> dict[str, Any]:
    volumes: list[dict[str, Any]] = []
    mounts: list[dict[str, Any]] = []
    runtime = ["--runtime-from-kubelet"]
    if options.runtime_socket:
        socket_volume, socket_mount, socket_inside = _socket_mount(options.runtime_socket)
        volumes, mounts = [socket_volume], [{**socket_mount, "readOnly": True}]
        runtime = ["--runtimes", "containerd", "--runtime-socket", f"containerd={socket_inside}"]
    pod_labels = {**LABELS, "app.kubernetes.io/component": "agent"}
    container = {
        "name": "agent",
        "image": options.image,
        "imagePullPolicy": options.pull_policy,
        "args": [
            "agent",
            "--listen",
            LISTEN,
            *runtime,
        ],
        "env": [{"name": "NODE_NAME", "valueFrom": {"fieldRef": {"fieldPath": "spec.nodeName"}}}],
        "ports": [{"name": "grpc", "containerPort": AGENT_PORT, "protocol": "TCP"}],
        "readinessProbe": _probe(10),
        "livenessProbe": {**_probe(30), "initialDelaySeconds": 10},
        "resources": {
            "requests": {"cpu": "100m", "memory": "128Mi"},
            # Ring buffers (16 MiB per running gadget by default) count to this limit.
            "limits": {"cpu": "1", "memory": "512Mi"},
        },
        "securityContext": {
            "privileged": False,
            "allowPrivilegeEscalation": False,
            "readOnlyRootFilesystem": True,
            "capabilities": {"drop": ["ALL"], "add": list(CAPABILITIES)},
            # The runtimes' default seccomp profiles admit bpf() and perf_event_open()
            # only with CAP_SYS_ADMIN, which this pod does without.
            "seccompProfile": {"type": "Unconfined"},
        },
        "volumeMounts": [
            {"name": "tracefs", "mountPath": "/sys/kernel/tracing", "readOnly": True},
            {"name": "cgroup", "mountPath": "/sys/fs/cgroup", "readOnly": True},
            *mounts,
            {"name": "tmp", "mountPath": "/tmp"},
            # The agent's image store (`kubectl espia run IMAGE` ships images there).
            {"name": "images", "mountPath": "/var/lib/espia"},
        ],
    }
    spec: dict[str, Any] = {
        "serviceAccountName": NAME,
        "automountServiceAccountToken": False,
        # /proc of the host: the processes and namespaces of every container on the node.
        "hostPID": True,
        "tolerations": [{"operator": "Exists"}],  # every node, tainted ones included
        "terminationGracePeriodSeconds": 30,
        "containers": [container],
        "volumes": [
            {"name": "tracefs", "hostPath": {"path": "/sys/kernel/tracing"}},
            {"name": "cgroup", "hostPath": {"path": "/sys/fs/cgroup", "type": "Directory"}},
            *volumes,
            {"name": "tmp", "emptyDir": {"medium": "Memory", "sizeLimit": "64Mi"}},
            # The pod's own, removed with it: no image is left on the node after undeploy.
            {"name": "images", "emptyDir": {"sizeLimit": "256Mi"}},
        ],
    }
    if options.node_selector:
        spec["nodeSelector"] = dict(options.node_selector)
    annotations = {"espia.dev/version": __version__}
    if options.metrics:
        _serve_metrics(container, annotations, options.metrics)
    return {
        "apiVersion": "apps/v1",
        "kind": "DaemonSet",
        "metadata": _meta(NAME, options.namespace),
        "spec": {
            "selector": {"matchLabels": dict(pod_labels)},
            "updateStrategy": {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 1}},
            "template": {
                "metadata": {
                    "labels": pod_labels,
                    "annotations": annotations,
                },
                "spec": spec,
            },
        },
    }


def _serve_metrics(container: dict[str, Any], annotations: dict[str, str], sets: str) -> None:
    """The agent serves `sets` on the pod's address, announced to Prometheus by the
    usual prometheus.io annotations (a ServiceMonitor can select the named port)."""
    from espia.metrics.spec import builtin_sets

    names = [name.strip() for name in sets.split(",") if name.strip()]
    unknown = [name for name in names if name not in builtin_sets()]
    if unknown or not names:
        raise UsageError(
            f"--metrics {sets!r}: metric sets are {', '.join(builtin_sets())} (comma-separated)"
        )
    container["args"] += [
        "--metrics",
        ",".join(names),
        "--metrics-listen",
        f"0.0.0.0:{METRICS_PORT}",
    ]
    container["ports"].append({"name": "metrics", "containerPort": METRICS_PORT, "protocol": "TCP"})
    annotations.update(
        {
            "prometheus.io/scrape": "true",
            "prometheus.io/port": str(METRICS_PORT),
            "prometheus.io/path": "/metrics",
        }
    )


def objects(options: DeployOptions) -> list[dict[str, Any]]:
    """Every object of a deployment, in the order they are created."""
    if options.pull_policy not in PULL_POLICIES:
        raise UsageError(
            f"--image-pull-policy {options.pull_policy!r}: one of {', '.join(PULL_POLICIES)}"
        )
    namespace = options.namespace
    return [
        {"apiVersion": "v1", "kind": "Namespace", "metadata": _meta(namespace)},
        {
            "apiVersion": "v1",
            "kind": "ServiceAccount",
            "metadata": _meta(NAME, namespace),
            "automountServiceAccountToken": False,
        },
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "ClusterRole",
            "metadata": _meta(NAME),
            "rules": [],
        },
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "ClusterRoleBinding",
            "metadata": _meta(NAME),
            "roleRef": {
                "apiGroup": "rbac.authorization.k8s.io",
                "kind": "ClusterRole",
                "name": NAME,
            },
            "subjects": [{"kind": "ServiceAccount", "name": NAME, "namespace": namespace}],
        },
        daemonset(options),
    ]


def to_yaml(items: list[dict[str, Any]]) -> str:
    """The objects as a multi-document YAML stream, the RBAC rules' reasons as comments."""
    documents = []
    for item in items:
        text = yaml.safe_dump(item, sort_keys=False)
        if item["kind"] == "ClusterRole":
            text = text.replace("rules: []\n", RULES_COMMENT + "rules: []\n")
        documents.append(text)
    return "---\n" + "---\n".join(documents)
