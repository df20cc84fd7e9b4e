"""The API server, through the official `kubernetes` client: one boundary for its errors.

Everything `kubectl espia` asks the cluster goes through a :class:`Cluster`:
applying and deleting the deployment's objects, finding the agent pods, and
port-forwarding to them.  It uses the client's kubeconfig resolution,
authentication and transport (one ``ApiClient``), and calls the REST paths
itself, reading plain JSON: the client's typed API classes cost 1-5 s to
build (CoreV1Api alone wraps ~400 methods in pydantic validators), more
than everything else a command does before its first event.  Its exceptions
become EspiaErrors with one line naming the problem: no kubeconfig, an
unreachable API server, a refusal (with the verb and object), an object that
does not exist.
"""

from __future__ import annotations

import contextlib
import json
import re
import select
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from espia.errors import EspiaError
from espia.kubectl.manifests import AGENT_PORT, LABEL, LABELS, NAME

# Seconds an API request may take before the API server counts as not answering.
REQUEST_TIMEOUT = 15


_thread_hook = threading.excepthook


def _quiet_forward_errors(args: threading.ExceptHookArgs) -> None:
    """The client's port-forward thread raises when the API server resets the stream
    (ConnectionResetError as a run ends, or breaks): the node's own thread reports a
    broken stream in one line; the library's thread must not add a traceback."""
    name = args.thread.name if args.thread is not None else ""
    if name.startswith("Kubernetes port forward proxy") and issubclass(args.exc_type, OSError):
        return
    _thread_hook(args)


threading.excepthook = _quiet_forward_errors


class ClusterError(EspiaError):
    """The cluster could not be reached, or refused what was asked."""


@dataclass(frozen=True)
class AgentPod:
    name: str
    namespace: str
    node: str
    ready: bool
    version: str


def path_part(name: str) -> str:
    """A name as one segment of a REST path (a name with a slash cannot reach another path)."""
    return quote(name, safe="")


def _refusal(status: int, reason: str, body: bytes) -> str:
    try:
        message = json.loads(body or b"{}").get("message", "")
    except (ValueError, AttributeError):
        message = ""
    return f"{status} {reason}".strip() + (f": {message}" if message else "")


def _agent_pod(pod: dict[str, Any]) -> AgentPod:
    meta, status = pod["metadata"], pod.get("status", {})
    statuses = status.get("containerStatuses") or []
    running = status.get("phase") == "Running"
    ready = running and bool(statuses) and all(s["ready"] for s in statuses)
    return AgentPod(
        name=meta["name"],
        namespace=meta["namespace"],
        node=pod.get("spec", {}).get("nodeName", ""),
        ready=ready and "deletionTimestamp" not in meta,
        version=(meta.get("annotations") or {}).get("espia.dev/version", ""),
    )


class Cluster:
    """One kubeconfig context's API server."""

    def __init__(self, kubeconfig: str | None = None, context: str | None = None) -> None:
        from kubernetes import config
        from kubernetes.config.config_exception import ConfigException

        try:
            self.api_client = config.new_client_from_config(config_file=kubeconfig, context=context)
            contexts, current = config.list_kube_config_contexts(config_file=kubeconfig)
        except ConfigException as exc:
            raise ClusterError(
                f"no cluster to talk to: {exc} (see --kubeconfig, --context)"
            ) from None
        except OSError as exc:
            raise ClusterError(f"read kubeconfig: {exc}") from None
        chosen = (
            next((c for c in contexts if c["name"] == context), current) if context else current
        )
        self.namespace = (chosen or {}).get("context", {}).get("namespace") or "default"
        self.server = self.api_client.configuration.host

    def _serialize(
        self, method: str, path: str, query: dict[str, str] | None, body: Any
    ) -> tuple[str, dict[str, str], Any]:
        """(url, headers, body) with the kubeconfig's credentials (tokens refreshed)."""
        headers = {"Accept": "application/json"}
        if body is not None:
            headers["Content-Type"] = "application/json"
        _, url, headers, body, _ = self.api_client.param_serialize(
            method,
            path,
            query_params=list((query or {}).items()),
            header_params=headers,
            body=body,
            auth_settings=["BearerToken"],
        )
        return url, headers, body

    def _unreachable(self, what: str, exc: Exception) -> ClusterError:
        found = re.search(r"\[Errno -?\d+\] [^'\")]+", str(exc))
        cause = found.group(0) if found else type(exc).__name__
        return ClusterError(f"{what}: the API server at {self.server} does not answer ({cause})")

    def request(
        self,
        what: str,
        method: str,
        path: str,
        *,
        query: dict[str, str] | None = None,
        body: Any = None,
        missing_ok: bool = False,
    ) -> Any:
        """The JSON the API server answers; a failure as one line, "what: cause".

        With `missing_ok`, None when the object does not exist (404).
        """
        from kubernetes.client.exceptions import ApiException
        from urllib3.exceptions import HTTPError

        url, headers, data = self._serialize(method, path, query, body)
        try:
            response = self.api_client.call_api(
                method, url, headers, data, _request_timeout=REQUEST_TIMEOUT
            )
            content = response.read()
        except ApiException as exc:  # TLS and protocol failures come as status 0
            raise ClusterError(f"{what}: {exc.reason or exc}") from None
        except (HTTPError, OSError) as exc:
            raise self._unreachable(what, exc) from None
        if response.status == 404 and missing_ok:
            return None
        if not 200 <= response.status < 300:
            raise ClusterError(f"{what}: {_refusal(response.status, response.reason, content)}")
        try:
            return json.loads(content)
        except ValueError:
            raise ClusterError(f"{what}: the API server's answer is not JSON") from None

    def items(self, what: str, path: str, selector: str = "") -> list[dict[str, Any]]:
        """The objects of a list path (`selector`: a label selector)."""
        query = {"labelSelector": selector} if selector else None
        answer = self.request(what, "GET", path, query=query)
        return list(answer.get("items") or [])

    # --- the agent's pods ------------------------------------------------------

    def agent_pods(self) -> list[AgentPod]:
        """Every agent pod, in whatever namespace it was deployed."""
        selector = ",".join(f"{k}={v}" for k, v in LABELS.items())
        selector += ",app.kubernetes.io/component=agent"
        pods = self.items("list the agent's pods", "/api/v1/pods", selector)
        return sorted((_agent_pod(p) for p in pods), key=lambda p: p.node)

    def agent_daemonsets(self) -> list[dict[str, Any]]:
        found = self.items(
            "list the agent's DaemonSets", "/apis/apps/v1/daemonsets", f"{LABEL}={LABELS[LABEL]}"
        )
        return [d for d in found if d["metadata"]["name"] == NAME]

    def has_pods(self, namespace: str) -> bool:
        """Whether `namespace` has a pod (one that does not exist has none)."""
        path = f"/api/v1/namespaces/{path_part(namespace)}/pods"
        answer = self.request(f"list the pods of {namespace}", "GET", path, query={"limit": "1"})
        return bool(answer.get("items"))

    def node_names(self) -> list[str]:
        return sorted(n["metadata"]["name"] for n in self.items("list nodes", "/api/v1/nodes"))

    def portforward(self, pod: AgentPod, port: int) -> Any:
        """A port-forward stream to `port` of `pod` (the client's websocket PortForward)."""
        from kubernetes.client.exceptions import ApiException
        from kubernetes.stream.ws_client import portforward_call

        path = (
            f"/api/v1/namespaces/{path_part(pod.namespace)}/pods/{path_part(pod.name)}/portforward"
        )
        url, headers, _ = self._serialize("GET", path, {"ports": str(port)}, None)
        try:
            return portforward_call(self.api_client.configuration, "GET", url, headers=headers)
        except ApiException as exc:
            raise ClusterError(
                f"port-forward to pod {pod.namespace}/{pod.name}: {exc.reason}"
            ) from None

    @contextlib.contextmanager
    def forward(self, pod: AgentPod, port: int = AGENT_PORT) -> Iterator[str]:
        """A loopback address whose connections reach `port` in `pod`, via the API server."""
        forwarder = _Forwarder(self, pod, port)
        try:
            yield forwarder.address
        finally:
            forwarder.close()


def _close_quietly(remote: socket.socket, wait: float = 1.0) -> None:
    """Closes this end of a port-forward's socket pair once the client's proxy thread has
    closed the other: closed with data unread, it would reset that thread's socket, and
    the thread would die with a traceback on stderr (ConnectionResetError)."""
    with contextlib.suppress(OSError):
        remote.shutdown(socket.SHUT_WR)  # the proxy reads the end, and closes its side
        remote.settimeout(wait)
        while remote.recv(1 << 16):
            pass
    with contextlib.suppress(OSError):
        remote.close()


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
        try:
            forward = self.cluster.portforward(self.pod, self.port)
        except EspiaError:
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
            _close_quietly(remote)
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
