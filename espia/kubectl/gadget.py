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

Everything the local door takes is carried: the gadget's parameters and own
flags (checked here before any node is contacted), and the display flags,
through the same code as the local door (espia.cli.display, and
espia.cli.gadget's choice of writer): -m counts the events shown from every
node, then stops every node.  Complete batches (top intervals, snapshots)
of every node are merged into one per interval (espia.kubectl.intervals), so
a top table is sorted and cut after the merge; a profile's samples all reach
one writer, which draws them once at the end.
"""

from __future__ import annotations

import itertools
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol, TextIO

from espia._version import __version__
from espia.agent._proto import agent_pb2 as pb
from espia.agent.client import AgentUnavailable, RemoteBatch, RemoteRun, run_request
from espia.agent.wire import RemoteSchema, WireError
from espia.cli.display import Display
from espia.cli.gadget import gadget_output
from espia.cli.options import all_params
from espia.containers.selector import parse_labels
from espia.engine.mainthread import wait_for
from espia.engine.runtime import GadgetRef, find_gadget
from espia.errors import EspiaError, UsageError
from espia.gadget.event import Event
from espia.gadget.spec import GadgetSpec
from espia.kubectl.cluster import AgentPod, Cluster
from espia.kubectl.intervals import IntervalMerge
from espia.output import Output
from espia.output.base import LossLines


@dataclass
class NodeRun:
    """What one node did: for the warnings as they happen and the final summary."""

    node: str
    pod: AgentPod | None
    run: RemoteRun | None = None
    schema: pb.Schema | None = None
    problem: str = ""
    opened: threading.Event = field(default_factory=threading.Event)
    # The runs of earlier connections (the stream broke and was resumed), and the
    # seconds each outage lasted: what happened then was not seen.
    done: list[RemoteRun] = field(default_factory=list)
    gaps: list[float] = field(default_factory=list)
    outage: float | None = None  # since when the node is cut off, while it is
    why: str = ""  # how its stream broke
    shown: int = 0  # its events shown (counted for --summary only)

    def _total(self, count: str) -> int:
        runs = [*self.done, *([self.run] if self.run is not None else [])]
        return sum(getattr(run, count) for run in runs)

    @property
    def lost(self) -> int:
        return self._total("lost")

    def line(self, counts: str = "") -> str:
        """The node's summary line; `counts` ("; 1234 received, 20 shown in 5.0 s", for
        --summary) goes after what it delivered and lost."""
        if self.run is None or self.schema is None:
            return f"espia: node {self.node}: {self.problem or 'no events'}"
        text = f"espia: node {self.node}: {self._total('delivered')} events"
        text += f", {self._total('kernel_lost')} lost in the kernel, "
        text += f"{self._total('queue_lost')} dropped by the agent{counts}"
        if self.gaps:
            times = "once" if len(self.gaps) == 1 else f"{len(self.gaps)} times"
            text += f"; cut off {times}, {sum(self.gaps):.1f} s not seen"
        return text + (f"; {self.problem}" if self.problem else "")

    def summary(self, summary: bool | None, seconds: float) -> str | None:
        """The line at the end: always for a node that failed; for the others as
        --summary/--no-summary say (default: the line without the received and shown
        counts, which say what each node delivered)."""
        failed = bool(self.problem or self.gaps or self.run is None or self.schema is None)
        if summary is False and not failed:
            return None
        if not summary:
            return self.line()
        received = self._total("received")
        return self.line(f"; {received} received, {self.shown} shown in {seconds:.1f} s")


def selector(args: Any, default_namespace: str) -> pb.Selector:
    parse_labels(args.selector)  # a malformed -l is said here, not by each node
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


def gadget_values(args: Any, params: Mapping[str, object] | None) -> dict[str, object]:
    """What the agents get as the gadget's parameters: --param and the named parameter
    flags, the gadget's own flags (gadget.yaml `options:`), --interval, and `params`."""
    interval = {"interval": args.interval} if hasattr(args, "interval") else {}
    return all_params(args, {**interval, **(params or {})})


def check_params(spec: GadgetSpec, values: Mapping[str, object]) -> None:
    """A bad parameter is a UsageError here, before any node is contacted.

    A parameter's type is the program's (its BTF: espia.gadget.params), so the
    gadget's object is opened here as the local door opens it, loading
    nothing.  Where this client has no object or no libbpf (the
    self-contained plugin), gadget.yaml's names are checked here and the
    values by each agent, which refuses a bad one before it loads anything.
    The gadget's own flags were checked by the parser.
    """
    from espia.engine.runtime import LocalRuntime
    from espia.engine.source import RunOptions

    typed = set(values) - set(spec.options) - {"interval"}
    if not typed:
        return
    try:
        LocalRuntime().run(spec, RunOptions(params=dict(values))).close()
    except UsageError:
        raise
    except EspiaError:
        unknown = sorted(typed - set(spec.params))
        if unknown:
            have = ", ".join(spec.params) or "none"
            raise UsageError(
                f"{spec.title} has no parameter {unknown[0]!r} (its parameters: {have})"
            ) from None


@dataclass(eq=False)
class _Merge:
    """What the node threads of one run share: the cluster, one schema and output (set
    once the first node answered), the lock that makes a batch's decoding and writing one
    step, and the stop of Ctrl-C, the timeout or -m."""

    cluster: Cluster
    err: TextIO
    display: Display
    lock: threading.Lock = field(default_factory=threading.Lock)
    output_ready: threading.Event = field(default_factory=threading.Event)
    stop: threading.Event = field(default_factory=threading.Event)
    schema: RemoteSchema | None = None
    output: Sink | None = None
    usage: UsageError | None = None
    stop_all: Callable[[], None] = lambda: None
    # Complete batches (intervals, snapshots) gathered across nodes; None until the
    # output is there.
    intervals: IntervalMerge | None = None
    # The output that writes losses as records naming their node (JSON, YAML); without
    # one, a line on stderr says them.
    records: Output | None = None
    # Per-node counts of the events shown (--summary), by node name.
    shown: Counter[str] | None = None
    enough: bool = False  # -m: the events asked for were shown
    # Without such an output: the lines on stderr, at most one a second per node.
    lines: LossLines = field(init=False)

    def __post_init__(self) -> None:
        self.lines = LossLines(self.err)

    def show(self, events: list[Event]) -> None:
        """Events to the output, as many as -m still lets through (the lock held)."""
        if self.enough:
            return
        events, self.enough = self.display.take(events)
        if self.shown is not None:
            self.shown.update(e.container.k8s.node for e in events)
        assert self.output is not None
        self.output.write(events)
        if self.enough:
            self.stop_all()

    def deliver(self, node: NodeRun, batch: RemoteBatch) -> None:
        """One batch of `node` (the lock held): its losses said, its events shown, or
        gathered with the other nodes' when it is an interval."""
        if batch.lost:
            self.lose(node, batch.lost)
        if batch.interval and self.intervals is not None:
            self.intervals.add(node.node, batch.interval, batch.events)
        elif batch.events:  # not a batch of losses only (an empty table, for a top gadget)
            self.show(batch.events)

    def lose(self, node: NodeRun, count: int) -> None:
        if self.records is not None:
            self.records.lost(count, node.lost, node.node)
            return
        self.lines.report(count, node.lost, node.node)

    def joined(self, node: NodeRun) -> None:
        with self.lock:
            if self.intervals is not None:
                self.intervals.join(node.node)

    def left(self, node: NodeRun) -> None:
        with self.lock:
            if self.intervals is not None:
                self.intervals.leave(node.node)


class Sink(Protocol):
    """Where the merged events go: an output (the command line) or the API's queue."""

    def begin(self) -> None: ...
    def write(self, events: list[Event]) -> None: ...
    def end(self) -> None: ...


def run_remote_gadget(
    args: Any,
    cluster: Cluster,
    stopper: Any,
    out: TextIO = sys.stdout,
    *,
    err: TextIO | None = None,
    sink: Callable[[RemoteSchema], Sink] | None = None,
    params: Mapping[str, object] | None = None,
    first_columns: tuple[str, ...] = (),
    report: list[NodeRun] | None = None,
    image: tuple[str, str] | None = None,
) -> int:
    """The gadget of `args` on every selected node, into `args.output` on `out` (or into
    `sink(schema)`); warnings and the per-node summary on `err`; `report` gets the nodes.
    `image`: (NAME:TAG, digest) of an image the agents store (espia.kubectl.run), run
    instead of a gadget of the catalog."""
    err = err or sys.stderr
    values = gadget_values(args, params)
    if image is None:  # an image's parameters are checked by the agents, which have it
        check_params(find_gadget(GadgetRef(args.category, args.gadget)), values)
    # The API's sink takes events only: the display flags are the command line's.
    display = Display.from_args(args, err) if sink is None else Display(mode="")
    display.other_clocks = True
    request = run_request(
        args.category,
        args.gadget,
        filter=",".join(args.filter) if args.filter else None,
        timeout=args.timeout,
        buffer_size=args.buffer_size,
        selector=selector(args, cluster.namespace),
        params=values,
    )
    if image is not None:
        request.image, request.image_digest = image
    nodes = pick_nodes(cluster, args.node)
    if request.selector.namespace and not request.selector.all_namespaces:
        for namespace in request.selector.namespace.split(","):
            if namespace.strip() and not cluster.has_pods(namespace.strip()):
                err.write(
                    f"espia: warning: namespace {namespace.strip()} has no pods: "
                    "nothing to show until one starts\n"
                )
    if report is not None:
        report.extend(nodes)
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
    merge = _Merge(cluster, err, display)
    stop = merge.stop

    def stop_all() -> None:
        stop.set()
        for node in live:
            if node.run is not None:
                node.run.stop()

    merge.stop_all = stop_all

    threads = [
        threading.Thread(
            target=_node_thread,
            args=(merge, node, request),
            daemon=True,
        )
        for node in live
    ]
    signals = stopper(stop_all)
    # Relative timestamps count from here: every node's events come after.
    started_ns = time.clock_gettime_ns(time.CLOCK_BOOTTIME)
    try:
        for thread in threads:
            thread.start()
        for node in live:
            wait_for(node.opened)  # in steps: Ctrl-C may come to a node's thread
        opened = [n for n in live if n.schema is not None]
        if not opened:
            errors = {n.problem for n in live}
            raise (merge.usage or EspiaError("; ".join(sorted(e for e in errors if e))))
        first = opened[0].schema
        assert first is not None
        try:
            schema = RemoteSchema(first)
        except WireError as exc:
            raise EspiaError(
                f"node {opened[0].node}: agent v{first.agent_version or '?'} is incompatible "
                f"with this client (v{__version__}): {exc}; deploy this version "
                "(`kubectl espia deploy`) or use a matching kubectl-espia"
            ) from None
        # The cluster door always selects pods (the context's namespace by default), so
        # K8S.CONTAINER names a container, unless the gadget lists its own columns.
        own = [
            c
            for c in schema.default_columns(pods=True)
            if c != "runtime.containerName" or schema.wire.columns
        ]
        columns = [*first_columns, "k8s.node", *own]
        output: Sink
        if sink is not None:
            output = sink(schema)
        else:
            stamps = [f.name for f in schema.wire.fields if f.type == "gadget_timestamp"]
            fields = display.fields(schema.fields, schema.gadget, stamps)
            writer = gadget_output(args, display, schema.wire, fields, columns, values, out, err)
            wire = schema.wire
            if display.mode in ("json", "jsonpretty", "yaml") and not (wire.view or wire.histogram):
                merge.records = writer
            output = writer
        merge.schema, merge.output = schema, output
        if schema.wire.lists:
            merge.intervals = IntervalMerge(merge.show)
            for node in opened:
                merge.intervals.join(node.node)
        if display.summary and getattr(args, "summary", None):
            merge.shown = Counter()
        output.begin()
        if sink is None:
            display.attached(out, schema.gadget, since=started_ns)
        merge.output_ready.set()
        for thread in threads:
            while thread.is_alive():
                thread.join(0.25)
        with merge.lock:
            if merge.intervals is not None:
                merge.intervals.finish()
        output.end()
        merge.lines.flush()
    finally:
        stop_all()
        merge.output_ready.set()
        signals.restore()
    seconds = time.monotonic() - display.started
    for node in nodes:
        node.shown = merge.shown[node.node] if merge.shown is not None else 0
        line = node.summary(getattr(args, "summary", None), seconds)
        if line is not None:
            err.write(line + "\n")
    # An outage is a failure even when the stream resumed: events were not seen.
    return 1 if any(n.problem or n.gaps for n in nodes) else 0


# Seconds between attempts to reach a node's agent again: doubling up to the last.
BACKOFF = (0.5, 1.0, 2.0, 4.0, 5.0)


class _Broken(Exception):
    """A node's stream ended in a way a new connection may cure (the agent restarted,
    the port-forward dropped); the text says how."""


def _node_thread(merge: _Merge, node: NodeRun, request: pb.RunRequest) -> None:
    """Streams one node until the run ends; reconnects (with backoff) while it lasts."""
    deadline = time.monotonic() + request.timeout if request.timeout else None
    pod = node.pod
    try:
        while True:
            assert pod is not None
            try:
                _stream_once(merge, pod, node, request)
                return
            except _Broken as exc:
                if merge.stop.is_set() or node.schema is None:
                    raise EspiaError(str(exc)) from None
                if node.outage is None:  # a new outage (not a failed attempt): warn once
                    node.outage, node.why = time.monotonic(), str(exc)
                    merge.err.write(f"espia: warning: node {node.node}: {exc}; reconnecting\n")
                    merge.err.flush()
            pod = _wait_for_agent(merge.cluster, node, deadline, merge.stop)
            if pod is None:  # the run ended (timeout, Ctrl-C) before the agent was back
                node.gaps.append(time.monotonic() - node.outage)
                node.problem = f"{node.why}; not back before the run ended"
                return
            if deadline is not None:
                request = _with_timeout(request, max(deadline - time.monotonic(), 0.001))
    except EspiaError as exc:
        node.problem = str(exc).removeprefix(f"node {node.node}: ")
        if node.schema is not None:
            merge.err.write(f"espia: warning: node {node.node}: {node.problem}; the others go on\n")
    finally:
        node.opened.set()


def _with_timeout(request: pb.RunRequest, seconds: float) -> pb.RunRequest:
    again = pb.RunRequest()
    again.CopyFrom(request)
    again.timeout = seconds
    return again


def _wait_for_agent(
    cluster: Cluster, node: NodeRun, deadline: float | None, stop: threading.Event
) -> AgentPod | None:
    """The node's ready agent pod once there is one again; None if the run ends first."""
    for attempt in itertools.count():
        if stop.wait(BACKOFF[min(attempt, len(BACKOFF) - 1)]):
            return None
        if deadline is not None and time.monotonic() >= deadline:
            return None
        try:
            pods = cluster.agent_pods()
        except EspiaError:
            continue  # the API server is what is down: keep trying while the run lasts
        found = next((p for p in pods if p.node == node.node and p.ready), None)
        if found is not None:
            return found
    return None


def _stream_once(merge: _Merge, pod: AgentPod, node: NodeRun, request: pb.RunRequest) -> None:
    """One connection to the node's agent: the gadget from open to its summary."""
    resumed = node.run is not None
    err = merge.err
    with merge.cluster.forward(pod) as address:
        run = RemoteRun(address, request, node.node)
        if resumed:
            node.done.append(node.run)  # type: ignore[arg-type]
        node.run = run
        try:
            try:
                message = run.open()
            except UsageError as exc:
                merge.usage = exc
                raise
            except EspiaError as exc:
                # Resuming, an agent still stopping or not quite up is worth another try.
                if resumed:
                    raise _Broken(str(exc).removeprefix(f"node {node.node}: ")) from None
                raise
            finally:
                node.opened.set()
            if resumed:
                merge.joined(node)
            else:
                node.schema = message
                merge.output_ready.wait()
            schema = merge.schema
            if schema is None or merge.stop.is_set():
                return
            if not schema.same(message):
                raise EspiaError("its agent's gadget has other fields (another version?)")
            if resumed and node.outage is not None:
                node.gaps.append(time.monotonic() - node.outage)
                node.outage = None
                err.write(
                    f"espia: node {node.node}: reconnected after {node.gaps[-1]:.1f} s; "
                    "events in between were not seen\n"
                )
            for warning in run.warnings:
                err.write(f"espia: warning: {warning}\n")
            batches = run.batches(schema, merge.lock)
            try:
                for item in batches:
                    if isinstance(item, RemoteBatch):
                        merge.deliver(node, item)
                    else:
                        err.write(f"espia: warning: {item}\n")
            except AgentUnavailable as exc:
                raise _Broken(str(exc).removeprefix(f"node {node.node}: ")) from None
            finally:
                batches.close()  # lets go of the lock, should writing have failed in it
                merge.left(node)
            summary = run.summary
            if summary is not None and summary.agent_stopped and not merge.stop.is_set():
                raise _Broken(summary.error or "its agent stopped")
            if summary is not None and summary.error:
                raise EspiaError(summary.error)
            if summary is None and not merge.stop.is_set():
                raise _Broken("the agent's stream ended early")
        finally:
            run.close()
