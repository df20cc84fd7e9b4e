"""The Python API's cluster door: `espia.cluster(...).trace(...)`, events from every node.

    import espia

    door = espia.cluster(kubeconfig=None, context=None)   # kubectl's resolution
    with door.trace("dns", namespace="my-ns", timeout=30) as events:
        for event in events:              # the same typed events, with .node
            print(event.node, event.container.k8s.pod, event.get("name"))
        print(events.lost, events.problems)

A :class:`ClusterTrace` is the command line's merge (espia/kubectl/gadget.py)
with a queue instead of an output: the node threads hand over batches, the
iterator yields their events.  The queue is bounded, so a caller that stops
reading holds the node streams back and the agents drop and count what
overflows (in `lost`), as for a slow terminal.  A node that fails is in
`problems`, not an exception, so the other nodes' events still come; an
error before any node streams (a bad filter, no agent anywhere) is raised.
"""

from __future__ import annotations

import argparse
import queue
import threading
from collections.abc import Callable, Iterator, Sequence
from types import TracebackType
from typing import Any

from espia.agent.wire import RemoteSchema
from espia.errors import UsageError
from espia.gadget.event import Event
from espia.kubectl.cluster import Cluster
from espia.kubectl.gadget import NodeRun, run_remote_gadget

# Batches held for a caller that does not read; then the node streams wait.
QUEUED_BATCHES = 64
_END = None


class _Lines:
    """Warnings and summary lines, as the command line would print them."""

    def __init__(self) -> None:
        self.lines: list[str] = []

    def write(self, text: str) -> int:
        self.lines += [line.removeprefix("espia: ") for line in text.splitlines()]
        return len(text)

    def flush(self) -> None:
        pass


class ClusterTrace:
    """A gadget on every selected node of a cluster, as one iterator of its events."""

    def __init__(self, cluster: Cluster, args: argparse.Namespace, params: dict[str, Any]) -> None:
        self._cluster = cluster
        self._args = args
        self._params = params
        self._batches: queue.Queue[list[Event] | None] = queue.Queue(QUEUED_BATCHES)
        self._messages = _Lines()
        self._nodes: list[NodeRun] = []
        self._stop_all: Callable[[], None] | None = None
        self._stopping = threading.Event()
        self._error: BaseException | None = None
        self._thread: threading.Thread | None = None
        self.schema: RemoteSchema | None = None

    # --- what the merge calls ----------------------------------------------------

    def _stopper(self, stop_all: Callable[[], None]) -> ClusterTrace:
        self._stop_all = stop_all
        if self._stopping.is_set():
            stop_all()
        return self

    def restore(self) -> None:
        """The merge is done with its stopper (nothing to restore: no signal handlers)."""

    def _sink(self, schema: RemoteSchema) -> ClusterTrace:
        self.schema = schema
        return self

    def begin(self) -> None:
        pass

    def write(self, events: list[Event]) -> None:
        while not self._stopping.is_set():
            try:
                self._batches.put(events, timeout=0.25)
                return
            except queue.Full:
                continue

    def end(self) -> None:
        pass

    def _merge(self) -> None:
        try:
            run_remote_gadget(
                self._args,
                self._cluster,
                self._stopper,
                err=self._messages,  # type: ignore[arg-type]
                sink=self._sink,
                params=self._params,
                report=self._nodes,
            )
        except BaseException as exc:  # handed to the iterating thread
            self._error = exc
        finally:
            self._put_end()

    def _put_end(self) -> None:
        while True:
            try:
                self._batches.put(_END, timeout=0.25)
                return
            except queue.Full:
                if self._stopping.is_set():
                    return

    # --- the caller's side ---------------------------------------------------------

    def start(self) -> ClusterTrace:
        if self._thread is not None:
            raise UsageError("this cluster trace has already run: make a new one")
        self._thread = threading.Thread(target=self._merge, name="espia-cluster", daemon=True)
        self._thread.start()
        return self

    def __iter__(self) -> Iterator[Event]:
        if self._thread is None:
            self.start()
        while True:
            try:
                batch = self._batches.get(timeout=0.25)
            except queue.Empty:
                if self._thread is not None and not self._thread.is_alive():
                    break
                continue
            if batch is _END:
                break
            yield from batch
        if self._error is not None:
            raise self._error

    @property
    def lost(self) -> int:
        """Events lost on every node: in the kernels, or dropped by the agents."""
        return sum(node.lost for node in self._nodes)

    @property
    def problems(self) -> dict[str, str]:
        """What went wrong, by node (no agent, stream broken, outages): empty when nothing."""
        found = {}
        for node in self._nodes:
            if node.problem or node.gaps:
                gaps = f"cut off for {sum(node.gaps):.1f} s" if node.gaps else ""
                found[node.node] = "; ".join(t for t in (node.problem, gaps) if t)
        return found

    @property
    def messages(self) -> list[str]:
        """The warnings and per-node summary lines the command line would print."""
        return list(self._messages.lines)

    def stop(self) -> None:
        """Stops the gadget on every node (the iteration then ends)."""
        self._stopping.set()
        if self._stop_all is not None:
            self._stop_all()

    def close(self) -> None:
        self.stop()
        if self._thread is not None:
            self._thread.join(30)

    def __enter__(self) -> ClusterTrace:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()


class ClusterDoor:
    """One kubeconfig context's cluster, where espia's agent is deployed."""

    def __init__(
        self,
        kubeconfig: str | None = None,
        context: str | None = None,
        *,
        cluster: Cluster | None = None,
    ) -> None:
        """`cluster`: an API server connection already made (the kubeconfig is then unused)."""
        self._cluster = cluster or Cluster(kubeconfig, context)

    def run(
        self,
        category: str,
        gadget: str,
        *,
        filter: str | Sequence[str] | None = None,
        timeout: float = 0.0,
        buffer_size: int | str | None = None,
        containername: str | None = None,
        namespace: str | None = None,
        podname: str | None = None,
        selector: str | None = None,
        all_namespaces: bool = False,
        node: str | Sequence[str] | None = None,
        params: dict[str, Any] | None = None,
    ) -> ClusterTrace:
        """Prepares `category gadget` on every node (or `node`s); iterate it to run it.

        The arguments are `kubectl espia`'s flags, as espia.run() takes the local
        door's; the default scope is the context's namespace.
        """
        from espia.engine.source import parse_size, validate_timeout

        terms = [filter] if isinstance(filter, str) else list(filter or [])
        if any(not isinstance(t, str) for t in terms):
            raise UsageError(f"filter {filter!r}: expected a string of terms, e.g. comm:cat")
        args = argparse.Namespace(
            category=category,
            gadget=gadget,
            filter=terms or None,
            timeout=validate_timeout(timeout),
            buffer_size=parse_size(buffer_size) if buffer_size is not None else None,
            containername=containername,
            namespace=namespace,
            podname=podname,
            selector=selector,
            all_namespaces=all_namespaces,
            host=False,
            runtimes=None,
            runtime_socket=None,
            containerd_namespace="k8s.io",
            node=node if node is None or isinstance(node, str) else ",".join(node),
        )
        return ClusterTrace(self._cluster, args, dict(params or {}))

    def trace(self, gadget: str, **options: Any) -> ClusterTrace:
        """`run("trace", gadget, ...)`."""
        return self.run("trace", gadget, **options)


def cluster(kubeconfig: str | None = None, context: str | None = None) -> ClusterDoor:
    """The cluster of a kubeconfig (default: KUBECONFIG, then ~/.kube/config) and context.

    An unreadable kubeconfig is an EspiaError now; the API server is first asked
    when a trace starts.
    """
    return ClusterDoor(kubeconfig, context)
