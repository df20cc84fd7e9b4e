"""`espia agent`: the node daemon, serving the agent service over gRPC on loopback.

One :class:`AgentService` holds one container collection for the node,
started once and shared by every run, however many clients run gadgets at
the same time.  Each run is a local-door session with a producer thread
that reads the gadget's batches and a bounded queue between it and the
client's stream:

    session.batches() -> encode -> queue (bounded) -> gRPC stream -> client

When the client does not keep up, the queue is full and the newest batch
is dropped instead of waiting: the node never slows down for a client.
Each batch has a sequence number and the next one delivered says how many
events were dropped before it, so the loss is reported, never silent.

The agent listens on loopback only: in its pod's network namespace that is
reachable through the API server's port-forward, never from the network.
"""

from __future__ import annotations

import contextlib
import ipaddress
import json
import logging
import os
import queue
import sys
import threading
from collections.abc import Callable, Iterator
from concurrent import futures
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field
from typing import Any

import grpc

from espia._version import __version__
from espia.agent._proto import agent_pb2 as pb
from espia.agent._proto import agent_pb2_grpc as pb_grpc
from espia.agent.images import AgentImages
from espia.agent.wire import BatchEncoder, schema_message, wire_container
from espia.containers.collection import ContainerCollection
from espia.containers.selector import ContainerSelector
from espia.engine.containers import ContainerSources
from espia.engine.mainthread import wait_for
from espia.engine.runtime import GadgetRef, LocalGadgetRun, LocalRuntime
from espia.engine.source import RunOptions
from espia.errors import EspiaError, UsageError
from espia.gadget.registry import catalog

log = logging.getLogger("espia")

DEFAULT_PORT = 7450
# Batches (of up to 8192 events) held for one client before the newest is dropped.
DEFAULT_QUEUE = 32
# How often a stream with nothing to send checks that its client is still there.
POLL = 0.25
# Warnings a run keeps for its client until it reads them.
WARNINGS_KEPT = 100
# Seconds a run's ring reader gathers records after a wake-up: at a high rate the ring
# wakes it every few events, and each batch costs its encoding, a gRPC message, a
# port-forward frame and the client's decoding; gathered for 20 ms, the batches of
# 50,000 events/s hold a thousand.  The ring holds what comes meanwhile.
GATHER = 0.02


def loopback_address(address: str) -> tuple[str, int]:
    """(host, port) of "HOST:PORT" or "PORT"; a UsageError unless HOST is a loopback address."""
    host, sep, port_text = address.rpartition(":")
    host = host.strip("[]") if sep else "127.0.0.1"
    try:
        port = int(port_text)
        if not 0 <= port < 65536:
            raise ValueError
    except ValueError:
        raise UsageError(f"listen address {address!r}: the port must be 0..65535") from None
    try:
        loopback = host == "localhost" or ipaddress.ip_address(host).is_loopback
    except ValueError:
        loopback = False
    if not loopback:
        raise UsageError(
            f"listen address {address!r}: the agent listens on loopback only "
            "(clients reach it through port-forward)"
        )
    return host, port


def selector_of(message: pb.Selector) -> ContainerSelector:
    return ContainerSelector.from_flags(
        containername=message.containername or None,
        namespace=message.namespace or None,
        all_namespaces=message.all_namespaces,
        podname=message.podname or None,
        selector=message.labels or None,
        host=message.host,
    )


@dataclass
class _Counts:
    batches: int = 0
    dropped_batches: int = 0
    delivered: int = 0
    kernel_lost: int = 0
    queue_lost: int = 0


@dataclass(eq=False)
class _Run:
    """One client's gadget: what the stream reads, what the producer fills."""

    session: LocalGadgetRun
    encoder: BatchEncoder
    bound: int
    batches: queue.Queue[pb.Batch] = field(init=False)
    warnings: queue.Queue[str] = field(default_factory=lambda: queue.Queue(WARNINGS_KEPT))
    counts: _Counts = field(default_factory=_Counts)
    done: threading.Event = field(default_factory=threading.Event)
    error: EspiaError | None = None
    agent_stopped: bool = False
    # Losses not reported to the client yet, and the number of the last batch that
    # added to them (dropped, or without events): newer than any batch sent.
    _kernel_lost: int = 0
    _queue_lost: int = 0
    _last_unsent: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def __post_init__(self) -> None:
        self.batches = queue.Queue(self.bound)

    def produce(self) -> None:
        """Reads the gadget until it ends; drops (and counts) what the queue cannot hold."""
        counts = self.counts
        intervals = 0  # complete batches (top intervals, snapshots) so far
        try:
            for batch in self.session.batches():
                counts.batches += 1
                # An interval is numbered even when dropped: the client merges by number.
                intervals += batch.snapshot
                with self._lock:
                    self._kernel_lost += batch.lost
                    counts.kernel_lost += batch.lost
                    if not batch.events and not batch.snapshot:
                        self._last_unsent = counts.batches
                        continue
                    if self.batches.full():
                        counts.dropped_batches += 1
                        counts.queue_lost += len(batch.events)
                        self._queue_lost += len(batch.events)
                        self._last_unsent = counts.batches
                        continue
                message = self.encoder.encode(batch.events, counts.batches, 0)
                message.interval = intervals if batch.snapshot else 0
                # Taking the losses and queueing are one step for losses_only().
                with self._lock:
                    message.kernel_lost, message.queue_lost = self._take_losses()
                    self.batches.put_nowait(message)
        except EspiaError as exc:
            self.error = exc
        except Exception as exc:  # a bug: the client gets its text, the agent goes on
            log.exception("run of %s failed", self.session.spec.title)
            self.error = EspiaError(f"agent error: {exc!r}")
        finally:
            self.done.set()

    def _take_losses(self) -> tuple[int, int]:
        lost = self._kernel_lost, self._queue_lost
        self._kernel_lost = self._queue_lost = 0
        return lost

    def losses_only(self) -> pb.Batch | None:
        """When the stream has nothing to send: the losses not reported yet, as a batch
        without events, numbered as the last batch not sent (numbers still only grow)."""
        with self._lock:
            if not (self._kernel_lost or self._queue_lost) or not self.batches.empty():
                return None
            kernel_lost, queue_lost = self._take_losses()
            seq = self._last_unsent
        return pb.Batch(seq=seq, kernel_lost=kernel_lost, queue_lost=queue_lost)

    def warn(self, message: str) -> None:
        with contextlib.suppress(queue.Full):
            self.warnings.put_nowait(message)


class _Broadcast(logging.Handler):
    """The agent's warnings (a runtime gone...) to the log and to every running client."""

    def __init__(self, service: AgentService) -> None:
        super().__init__(logging.WARNING)
        self.service = service

    def emit(self, record: logging.LogRecord) -> None:
        self.service.warn(record.getMessage())


class AgentService(pb_grpc.AgentServicer):
    """The agent service over one shared container collection."""

    def __init__(
        self, runtime: LocalRuntime, collection: ContainerCollection, queue_bound: int
    ) -> None:
        self.runtime = runtime
        self.collection = collection
        self.node = runtime.containers.sources.node
        self.queue_bound = queue_bound
        self.images = AgentImages(self.node)
        self._runs: set[_Run] = set()
        self._lock = threading.Lock()
        self.closing = threading.Event()

    def warn(self, message: str) -> None:
        with self._lock:
            runs = list(self._runs)
        for run in runs:
            run.warn(message)

    def stop_all(self) -> None:
        """Ends every run's gadget (their streams then end and unload it); each client's
        summary says the run was cut short, not finished."""
        with self._lock:
            runs = list(self._runs)
        for run in runs:
            run.error = EspiaError(f"the agent of node {self.node} stopped (SIGTERM)")
            run.agent_stopped = True
            run.session.stop()

    def active_runs(self) -> int:
        with self._lock:
            return len(self._runs)

    # --- Run -----------------------------------------------------------------

    def Run(self, request: pb.RunRequest, context: grpc.ServicerContext) -> Iterator[pb.RunReply]:
        ended: list[pb.Summary] = []
        # A client that cancels ends this generator inside _run (GeneratorExit): no summary.
        yield from self._run(request, context, ended)
        yield pb.RunReply(summary=ended[0])

    def _run(
        self, request: pb.RunRequest, context: grpc.ServicerContext, ended: list[pb.Summary]
    ) -> Iterator[pb.RunReply]:
        """Schema, warnings and batches; `ended` gets the summary once all is unloaded."""
        try:
            session = self._session(request)
        except EspiaError as exc:
            stopping = self.closing.is_set()
            ended.append(
                pb.Summary(error=str(exc), exit_code=exc.exit_code, agent_stopped=stopping)
            )
            return
        encoder = BatchEncoder(session.event_schema, session.schema)
        run = _Run(session, encoder, request.queue_batches or self.queue_bound)
        thread = threading.Thread(target=run.produce, name="espia-agent-run", daemon=True)
        with self._lock:
            self._runs.add(run)
        try:
            context.add_callback(session.stop)
            if request.client_version and request.client_version != __version__:
                yield pb.RunReply(
                    warning=f"node {self.node}: agent is v{__version__}, "
                    f"client v{request.client_version}"
                )
            session.start()
            yield pb.RunReply(schema=schema_message(session.schema, self.node, __version__))
            thread.start()
            yield from self._stream(run, context)
        except EspiaError as exc:
            run.error = exc
        finally:
            session.stop()
            if thread.is_alive():
                thread.join()
            session.close()
            self.images.release(request)
            with self._lock:
                self._runs.discard(run)
        ended.append(self._summary(run))

    def _session(self, request: pb.RunRequest) -> LocalGadgetRun:
        if self.closing.is_set():
            raise EspiaError(f"the agent of node {self.node} is shutting down")
        try:
            params = {name: json.loads(value) for name, value in request.params.items()}
        except ValueError as exc:
            raise UsageError(f"gadget parameters: not JSON ({exc})") from None
        options = RunOptions(
            params=params,
            filter=request.filter or None,
            timeout=request.timeout,
            buffer_size=request.buffer_size or None,
            selector=selector_of(request.selector),
            exclude_self=True,
            gather=GATHER,
        )
        if not request.image:
            return self.runtime.run(GadgetRef(request.category, request.gadget), options)
        try:  # an image the client shipped (PutImage); its files live as long as the run
            return self.runtime.run(self.images.open(request, request), options)
        except BaseException:
            self.images.release(request)
            raise

    def _stream(self, run: _Run, context: grpc.ServicerContext) -> Iterator[pb.RunReply]:
        counts = run.counts
        while context.is_active():
            while not run.warnings.empty():
                yield pb.RunReply(warning=run.warnings.get_nowait())
            try:
                batch = run.batches.get(timeout=POLL)
            except queue.Empty:
                ended = run.done.is_set() and run.batches.empty()
                losses = run.losses_only()
                if losses is not None:
                    yield pb.RunReply(batch=losses)
                if ended:
                    return
                continue
            counts.delivered += batch.count
            yield pb.RunReply(batch=batch)

    @staticmethod
    def _summary(run: _Run) -> pb.Summary:
        counts = run.counts
        error = run.error
        return pb.Summary(
            received=run.session.received,
            delivered=counts.delivered,
            kernel_lost=counts.kernel_lost,
            queue_lost=counts.queue_lost,
            batches=counts.batches,
            dropped_batches=counts.dropped_batches,
            error=str(error) if error else "",
            exit_code=error.exit_code if error else 0,
            agent_stopped=run.agent_stopped,
        )

    # --- the rest ------------------------------------------------------------

    def ListContainers(
        self, request: pb.ListContainersRequest, context: grpc.ServicerContext
    ) -> pb.ListContainersReply:
        selector = selector_of(request.selector)
        chosen = [c for c in self.collection.containers() if selector.selects(c)]
        return pb.ListContainersReply(
            node=self.node, containers=[wire_container(c, 0) for c in chosen]
        )

    def Info(self, request: pb.InfoRequest, context: grpc.ServicerContext) -> pb.InfoReply:
        gadgets = [f"{category} {name}" for category, names in catalog().items() for name in names]
        return pb.InfoReply(
            version=__version__,
            node=self.node,
            kernel=os.uname().release,
            runtimes=[r.name for r in self.collection.runtimes],
            gadgets=sorted(gadgets),
        )

    def PutImage(self, request: pb.ImageUpload, context: grpc.ServicerContext) -> pb.ImageReply:
        return self.images.put(request)

    def ListImages(
        self, request: pb.ListImagesRequest, context: grpc.ServicerContext
    ) -> pb.ListImagesReply:
        return self.images.list(request)

    def Health(self, request: pb.HealthRequest, context: grpc.ServicerContext) -> pb.HealthReply:
        if self.closing.is_set():
            return pb.HealthReply(serving=False, reason="shutting down")
        return pb.HealthReply(serving=True)


class Agent:
    """The gRPC server and the collection behind it; `close()` stops every run first."""

    def __init__(
        self,
        listen: str,
        containers: ContainerSources,
        queue_bound: int = DEFAULT_QUEUE,
        workers: int = 32,
    ) -> None:
        host, port = loopback_address(listen)
        self.runtime = LocalRuntime(containers)
        # Held for the agent's life: every run shares it, none starts or stops it.
        self.collection = self.runtime.containers.acquire(kernel=True)
        self.service = AgentService(self.runtime, self.collection, queue_bound)
        self._handler = _Broadcast(self.service)
        log.addHandler(self._handler)
        self.server = grpc.server(futures.ThreadPoolExecutor(max_workers=workers))
        pb_grpc.add_AgentServicer_to_server(self.service, self.server)
        try:
            self.port = self.server.add_insecure_port(f"{host}:{port}")
        except RuntimeError as exc:
            self.close()
            raise EspiaError(f"listen on {listen}: {exc}") from exc
        self.server.start()

    def close(self, grace: float = 5.0) -> None:
        """Cancels every run (each unloads its gadget), then stops following containers."""
        self.service.closing.set()
        self.service.stop_all()
        self.server.stop(grace).wait()
        # Handlers may still be unwinding after stop() returns: wait for their sessions.
        deadline = 50
        while self.service.active_runs() and deadline:
            threading.Event().wait(0.1)
            deadline -= 1
        log.removeHandler(self._handler)
        self.runtime.containers.release()


def health(listen: str, timeout: float = 3.0) -> int:
    """`espia agent --health`: 0 when the agent at `listen` serves, else 1 (a probe's exec)."""
    host, port = loopback_address(listen)
    with grpc.insecure_channel(f"{host}:{port}") as channel:
        try:
            reply = pb_grpc.AgentStub(channel).Health(pb.HealthRequest(), timeout=timeout)
        except grpc.RpcError as exc:
            print(f"espia agent: not serving on {listen}: {exc.code().name}")
            return 1
    if not reply.serving:
        print(f"espia agent: not serving: {reply.reason}")
        return 1
    return 0


def serve(
    listen: str,
    queue_bound: int,
    containers: ContainerSources,
    stopper: Any,
    exporting: Callable[[LocalRuntime], AbstractContextManager[None]] = lambda _: nullcontext(),
) -> int:
    """Runs the agent until SIGTERM or Ctrl-C (and, in `exporting`, its metrics endpoint)."""
    stopped = threading.Event()
    agent = Agent(listen, containers, queue_bound)
    signals = stopper(stopped.set)
    try:
        with exporting(agent.runtime):
            host = loopback_address(listen)[0]
            sys.stderr.write(
                f"espia agent v{__version__} on node {agent.service.node}: "
                f"listening on {host}:{agent.port}\n"
            )
            sys.stderr.flush()
            wait_for(stopped)  # in steps: SIGTERM may come to another thread
    finally:
        signals.restore()
        agent.close()
    return 0


def _kubelet_sources(sources: ContainerSources) -> ContainerSources:
    """`sources` with the runtime the node's kubelet uses (espia.agent.kubelet); when it
    cannot be found, a warning, and the runtimes that answer at their usual sockets."""
    from dataclasses import replace

    from espia.agent.kubelet import find_runtime

    if sources.runtimes or sources.sockets:
        raise UsageError("--runtime-from-kubelet finds the runtime: give no --runtimes/sockets")
    try:
        name, socket = find_runtime(sources.node)
    except ValueError as exc:
        log.warning("the kubelet's container runtime: %s; trying the usual sockets", exc)
        return sources
    sys.stderr.write(f"espia agent: the kubelet's container runtime: {name} at {socket}\n")
    return replace(sources, runtimes=(name,), sockets=((name, socket),))


def agent_command(args: Any, stopper: Any) -> int:
    """`espia agent [--listen ADDR] [--queue N] [--health]`."""
    if args.health:
        return health(args.listen)
    if args.queue < 1:
        raise UsageError(f"--queue {args.queue}: must be at least 1 batch")
    from espia.agent.metrics import exporting
    from espia.cli.options import container_sources

    sources = container_sources(args)
    if args.runtime_from_kubelet:
        sources = _kubelet_sources(sources)
    return serve(
        args.listen,
        args.queue,
        sources,
        stopper,
        lambda runtime: exporting(args, runtime),
    )
