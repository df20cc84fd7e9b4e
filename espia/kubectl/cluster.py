"""The API server, through the official `kubernetes` client: one boundary for its errors.

Everything `kubectl espia` asks the cluster goes through a :class:`Cluster`:
applying and deleting the deployment's objects, finding the agent pods, and
port-forwarding to them.  The client is imported here only, when a command
needs the cluster (it costs ~300 ms).  Its exceptions become EspiaErrors
with one line naming the problem: no kubeconfig, an unreachable API server,
a refusal (with the verb and object), an object that does not exist.
"""

from __future__ import annotations

import contextlib
import re
import select
import socket
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from espia.errors import EspiaError
from espia.kubectl.manifests import AGENT_PORT, LABEL, LABELS, NAME


class ClusterError(EspiaError):
    """The cluster could not be reached, or refused what was asked."""


@dataclass(frozen=True)
class AgentPod:
    name: str
    namespace: str
    node: str
    ready: bool
    version: str


def _reason(exc: Exception) -> str:
    status = getattr(exc, "status", None)
    if status is not None:
        import json

        try:
            message = json.loads(exc.body or "{}").get("message", "")  # type: ignore[attr-defined]
        except ValueError:
            message = ""
        return f"{status} {getattr(exc, 'reason', '')}".strip() + (
            f": {message}" if message else ""
        )
    return str(exc).splitlines()[0] if str(exc) else type(exc).__name__


class Cluster:
    """One kubeconfig context's API server."""

    def __init__(self, kubeconfig: str | None = None, context: str | None = None) -> None:
        from kubernetes import client, config
        from kubernetes.config.config_exception import ConfigException

        try:
            self.api_client = config.new_client_from_config(config_file=kubeconfig, context=context)
        except ConfigException as exc:
            raise ClusterError(
                f"no cluster to talk to: {exc} (see --kubeconfig, --context)"
            ) from None
        except OSError as exc:
            raise ClusterError(f"read kubeconfig: {exc}") from None
        contexts, current = config.list_kube_config_contexts(config_file=kubeconfig)
        chosen = (
            next((c for c in contexts if c["name"] == context), current) if context else current
        )
        self.namespace = (chosen or {}).get("context", {}).get("namespace") or "default"
        self.server = self.api_client.configuration.host
        self.core = client.CoreV1Api(self.api_client)
        self.apps = client.AppsV1Api(self.api_client)
        self.rbac = client.RbacAuthorizationV1Api(self.api_client)

    def call(self, what: str, function: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        """`function(*args)`, its failure as one line: "what: cause"."""
        from kubernetes.client.exceptions import ApiException
        from urllib3.exceptions import HTTPError

        kwargs.setdefault("_request_timeout", 15)
        try:
            return function(*args, **kwargs)
        except ApiException as exc:
            raise ClusterError(f"{what}: {_reason(exc)}") from None
        except (HTTPError, OSError) as exc:
            found = re.search(r"\[Errno -?\d+\] [^'\")]+", str(exc))
            cause = found.group(0) if found else type(exc).__name__
            raise ClusterError(
                f"{what}: the API server at {self.server} does not answer ({cause})"
            ) from None

    def read_or_none(self, what: str, function: Callable[..., Any], *args: Any) -> Any:
        """The object, or None when the API server says it does not exist (404)."""
        from kubernetes.client.exceptions import ApiException

        try:
            return function(*args, _request_timeout=15)
        except ApiException as exc:
            if exc.status == 404:
                return None
            raise ClusterError(f"{what}: {_reason(exc)}") from None
        except Exception:
            return self.call(what, function, *args)

    # --- the agent's pods ------------------------------------------------------

    def agent_pods(self) -> list[AgentPod]:
        """Every agent pod, in whatever namespace it was deployed."""
        selector = ",".join(f"{k}={v}" for k, v in LABELS.items())
        selector += ",app.kubernetes.io/component=agent"
        pods = self.call(
            "list the agent's pods", self.core.list_pod_for_all_namespaces, label_selector=selector
        )
        found = []
        for pod in pods.items:
            statuses = pod.status.container_statuses or []
            ready = (
                pod.status.phase == "Running" and bool(statuses) and all(s.ready for s in statuses)
            )
            annotations = pod.metadata.annotations or {}
            found.append(
                AgentPod(
                    name=pod.metadata.name,
                    namespace=pod.metadata.namespace,
                    node=pod.spec.node_name or "",
                    ready=ready and pod.metadata.deletion_timestamp is None,
                    version=annotations.get("espia.dev/version", ""),
                )
            )
        return sorted(found, key=lambda p: p.node)

    def agent_daemonsets(self) -> list[Any]:
        selector = f"{LABEL}={LABELS[LABEL]}"
        found = self.call(
            "list the agent's DaemonSets",
            self.apps.list_daemon_set_for_all_namespaces,
            label_selector=selector,
        )
        return [d for d in found.items if d.metadata.name == NAME]

    def node_names(self) -> list[str]:
        return sorted(n.metadata.name for n in self.call("list nodes", self.core.list_node).items)

    @contextlib.contextmanager
    def forward(self, pod: AgentPod, port: int = AGENT_PORT) -> Iterator[str]:
        """A loopback address whose connections reach `port` in `pod`, via the API server."""
        forwarder = _Forwarder(self, pod, port)
        try:
            yield forwarder.address
        finally:
            forwarder.close()


class _Forwarder:
    """A local listener; each connection gets its own port-forward stream to the pod."""

    def __init__(self, cluster: Cluster, pod: AgentPod, port: int) -> None:
        self.cluster = cluster
        self.pod = pod
        self.port = port
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.address = f"127.0.0.1:{self.listener.getsockname()[1]}"
        self._closing = threading.Event()
        self._streams: list[Any] = []
        self._lock = threading.Lock()
        threading.Thread(target=self._accept, name="espia-forward", daemon=True).start()

    def _accept(self) -> None:
        while not self._closing.is_set():
            try:
                local, _ = self.listener.accept()
            except OSError:
                return
            threading.Thread(target=self._pump, args=(local,), daemon=True).start()

    def _pump(self, local: socket.socket) -> None:
        from kubernetes.stream import portforward

        try:
            forward = portforward(
                self.cluster.core.connect_get_namespaced_pod_portforward,
                self.pod.name,
                self.pod.namespace,
                ports=str(self.port),
            )
        except Exception:
            local.close()
            return
        with self._lock:
            self._streams.append(forward)
        remote = forward.socket(self.port)
        remote.setblocking(True)
        try:
            sockets = [local, remote]
            while not self._closing.is_set():
                readable, _, _ = select.select(sockets, [], [], 0.5)
                for source in readable:
                    data = source.recv(1 << 16)
                    if not data:
                        return
                    (remote if source is local else local).sendall(data)
        except OSError:
            return
        finally:
            local.close()
            with contextlib.suppress(Exception):
                remote.close()
            with contextlib.suppress(Exception):
                forward.close()

    def close(self) -> None:
        self._closing.set()
        self.listener.close()
        deadline = time.monotonic() + 1
        while time.monotonic() < deadline:
            with self._lock:
                if not self._streams:
                    break
                streams, self._streams = self._streams, []
            for stream in streams:
                with contextlib.suppress(Exception):
                    stream.close()
