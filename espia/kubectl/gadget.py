"""`kubectl espia <category> <gadget>`: the gadget on every selected node, one stream.

For each node with a ready agent a thread port-forwards to its pod, starts
the gadget there and writes its batches through one shared output; a lock
makes decoding and writing a batch one step, so lines never interleave.
A node without a ready agent, or whose stream breaks, is one warning naming
it: the others go on, and the exit status says something was missing.
The last lines on stderr say what each node delivered and lost.

Scope, as kubectl users expect: without -n, -A, -p, -c or -l, the gadget
shows the pods of the kubeconfig context's namespace; -A shows every pod.
Processes outside pods are never shown (every node would otherwise report
the others' host processes where nodes share a kernel, and the local door
is the tool for a host).
"""

from __future__ import annotations

import sys
import threading
from dataclasses import dataclass, field
from typing import Any, TextIO

from espia._version import __version__
from espia.agent._proto import agent_pb2 as pb
from espia.agent.client import RemoteBatch, RemoteRun, run_request
from espia.agent.wire import WireSchema
from espia.errors import EspiaError, UsageError
from espia.kubectl.cluster import AgentPod, Cluster
from espia.output import make_output


@dataclass
class NodeRun:
    """What one node did: for the warnings as they happen and the final summary."""

    node: str
    pod: AgentPod | None
    run: RemoteRun | None = None
    schema: pb.Schema | None = None
    problem: str = ""
    opened: threading.Event = field(default_factory=threading.Event)

    def line(self) -> str:
        if self.run is None or self.schema is None:
            return f"espia: node {self.node}: {self.problem or 'no events'}"
        run = self.run
        text = f"espia: node {self.node}: {run.delivered} events"
        text += f", {run.kernel_lost} lost in the kernel, {run.queue_lost} dropped by the agent"
        return text + (f"; {self.problem}" if self.problem else "")


def selector(args: Any, default_namespace: str) -> pb.Selector:
    chosen = pb.Selector(
        containername=args.containername or "",
        namespace=args.namespace or "",
        podname=args.podname or "",
        labels=args.selector or "",
        all_namespaces=args.all_namespaces,
    )
    if args.host:
        raise UsageError("--host is for the local door (`espia`): the cluster door shows pods")
    if args.runtimes or args.runtime_socket or args.containerd_namespace != "k8s.io":
        raise UsageError(
            "--runtimes, --runtime-socket and --containerd-namespace are the local door's: "
            "the agents' runtimes are set at `kubectl espia deploy`"
        )
    if not (chosen.namespace or chosen.all_namespaces or chosen.podname or chosen.labels):
        chosen.namespace = default_namespace
    return chosen


def pick_nodes(cluster: Cluster, wanted: str | None) -> list[NodeRun]:
    """One NodeRun per selected node, with its agent pod (None: no ready agent)."""
    pods = cluster.agent_pods()
    if not pods:
        raise EspiaError("espia is not deployed on this cluster: run `kubectl espia deploy`")
    nodes = cluster.node_names()
    names = [n.strip() for n in wanted.split(",") if n.strip()] if wanted else nodes
    unknown = [n for n in names if n not in nodes]
    if unknown:
        raise UsageError(f"unknown node {', '.join(unknown)} (nodes: {', '.join(nodes)})")
    ready = {p.node: p for p in pods if p.ready}
    return [NodeRun(n, ready.get(n)) for n in names]


def run_remote_gadget(args: Any, cluster: Cluster, stopper: Any, out: TextIO = sys.stdout) -> int:
    err = sys.stderr
    request = run_request(
        args.category,
        args.gadget,
        filter=",".join(args.filter) if args.filter else None,
        timeout=args.timeout,
        buffer_size=args.buffer_size,
        selector=selector(args, cluster.namespace),
    )
    nodes = pick_nodes(cluster, args.node)
    for node in nodes:
        if node.pod is None:
            node.problem = "no ready agent"
            err.write(f"espia: warning: node {node.node}: no ready agent; the others go on\n")
        elif node.pod.version != __version__:
            err.write(
                f"espia: warning: node {node.node}: agent v{node.pod.version}, "
                f"client v{__version__}\n"
            )
    live = [n for n in nodes if n.pod is not None]
    if not live:
        raise EspiaError(
            "no selected node has a ready agent (see `kubectl get pods -A -l "
            "app.kubernetes.io/name=espia`)"
        )
    lock = threading.Lock()
    output_ready = threading.Event()
    shared: dict[str, Any] = {}
    stop = threading.Event()

    def stop_all() -> None:
        stop.set()
        for node in live:
            if node.run is not None:
                node.run.stop()

    threads = [
        threading.Thread(
            target=_node_thread,
            args=(cluster, node, request, shared, lock, output_ready, stop, err),
            daemon=True,
        )
        for node in live
    ]
    signals = stopper(stop_all)
    try:
        for thread in threads:
            thread.start()
        for node in live:
            node.opened.wait()
        opened = [n for n in live if n.schema is not None]
        if not opened:
            errors = {n.problem for n in live}
            raise (shared.get("usage") or EspiaError("; ".join(sorted(errors))))
        first = opened[0].schema
        assert first is not None
        schema = WireSchema(first)
        columns = ["k8s.node", *[c for c in first.default_columns if c != "runtime.containerName"]]
        output = make_output(args.output, schema.fields, columns, out, err, lists=first.json_lists)
        shared["schema"], shared["output"] = schema, output
        output.begin()
        output_ready.set()
        for thread in threads:
            while thread.is_alive():
                thread.join(0.25)
        output.end()
    finally:
        stop_all()
        output_ready.set()
        signals.restore()
    for node in nodes:
        err.write(node.line() + "\n")
    return 1 if any(n.problem for n in nodes) else 0


def _node_thread(
    cluster: Cluster,
    node: NodeRun,
    request: pb.RunRequest,
    shared: dict[str, Any],
    lock: threading.Lock,
    output_ready: threading.Event,
    stop: threading.Event,
    err: TextIO,
) -> None:
    assert node.pod is not None
    try:
        with cluster.forward(node.pod) as address:
            node.run = run = RemoteRun(address, request, node.node)
            try:
                try:
                    node.schema = run.open()
                except UsageError as exc:
                    shared["usage"] = exc
                    raise
                finally:
                    node.opened.set()
                output_ready.wait()
                schema: WireSchema | None = shared.get("schema")
                if schema is None or stop.is_set():
                    return
                if not schema.same(node.schema):
                    raise EspiaError("its agent's gadget has other fields (another version?)")
                for warning in run.warnings:
                    err.write(f"espia: warning: {warning}\n")
                output = shared["output"]
                for item in run.batches(schema, lock):
                    if isinstance(item, RemoteBatch):
                        output.write(item.events)
                        if item.lost:
                            err.write(
                                f"espia: node {node.node}: {item.lost} events lost "
                                f"({run.lost} in all): filter more, or raise --buffer-size\n"
                            )
                    else:
                        err.write(f"espia: warning: {item}\n")
                summary = run.summary
                if summary is not None and summary.error:
                    raise EspiaError(summary.error)
                if summary is None and not stop.is_set():
                    raise EspiaError("the agent's stream ended early")
            finally:
                run.close()
    except EspiaError as exc:
        node.problem = str(exc).removeprefix(f"node {node.node}: ")
        if node.schema is not None:
            err.write(f"espia: warning: node {node.node}: {node.problem}; the others go on\n")
    finally:
        node.opened.set()
