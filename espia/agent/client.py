"""A gadget running on a remote agent, read like a local run.

:class:`RemoteRun` opens the agent's ``Run`` stream at an address (on the
cluster, a port-forward's local end) and turns its replies back into what
the local door's loop reads: a schema, then batches of events with the
events lost since the previous batch.  Losses of both kinds are kept apart
(``kernel_lost``: the ring buffer was full; ``queue_lost``: this client did
not keep up and the agent dropped batches, seen as a gap in their
sequence numbers), and the agent's summary ends the run.
"""

from __future__ import annotations

import contextlib
import json
import threading
from collections.abc import Generator, Iterator, Mapping
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Any

import grpc

from espia._version import __version__
from espia.agent._proto import agent_pb2 as pb
from espia.agent._proto import agent_pb2_grpc as pb_grpc
from espia.agent.wire import RemoteSchema, StreamDecoder, WireError
from espia.errors import EspiaError, UsageError
from espia.gadget.event import Event


class AgentUnavailable(EspiaError):
    """The agent does not answer, or its stream broke off."""


@dataclass(frozen=True, slots=True)
class RemoteBatch:
    """One batch from a node, and what was lost right before it."""

    events: list[Event]
    kernel_lost: int
    queue_lost: int
    # The batch's number among the complete ones (a top interval, a snapshot); 0: a
    # batch of a stream.
    interval: int = 0

    @property
    def lost(self) -> int:
        return self.kernel_lost + self.queue_lost


def run_request(
    category: str,
    gadget: str,
    *,
    filter: str | None = None,
    timeout: float = 0.0,
    buffer_size: int | None = None,
    selector: pb.Selector | None = None,
    queue_batches: int = 0,
    params: Mapping[str, object] | None = None,
) -> pb.RunRequest:
    return pb.RunRequest(
        params={name: json.dumps(value) for name, value in (params or {}).items()},
        category=category,
        gadget=gadget,
        filter=filter or "",
        timeout=timeout,
        buffer_size=buffer_size or 0,
        selector=selector or pb.Selector(),
        queue_batches=queue_batches,
        client_version=__version__,
    )


def _translate(exc: grpc.RpcError, node: str) -> AgentUnavailable:
    code = exc.code() if isinstance(exc, grpc.Call) else None
    detail = exc.details() if isinstance(exc, grpc.Call) else str(exc)
    name = code.name if code is not None else "error"
    return AgentUnavailable(f"node {node}: agent unreachable ({name}: {detail})")


class RemoteRun:
    """A gadget on one agent.  `open()` reads up to the schema; then `batches()`; `close()`."""

    def __init__(self, address: str, request: pb.RunRequest, node: str = "") -> None:
        self.address = address
        self.request = request
        self.node = node or address
        self.kernel_lost = 0
        self.queue_lost = 0
        self.delivered = 0
        self.warnings: list[str] = []
        self.summary: pb.Summary | None = None
        self.schema_message: pb.Schema | None = None
        self._channel = grpc.insecure_channel(address)
        self._call: grpc.Future | None = None
        self._replies: Iterator[pb.RunReply] | None = None
        self._seq = 0
        self._lock = threading.Lock()
        self._closed = False

    @property
    def lost(self) -> int:
        return self.kernel_lost + self.queue_lost

    @property
    def received(self) -> int:
        """Records the node's kernel handed over (before the agent's filters), once the
        agent's summary said so."""
        return self.summary.received if self.summary is not None else 0

    def open(self) -> pb.Schema:
        """Starts the gadget on the agent; its schema, or the agent's error as an EspiaError."""
        stub = pb_grpc.AgentStub(self._channel)
        call = stub.Run(self.request)
        self._call = call
        self._replies = iter(call)
        for reply in self._next_replies():
            kind = reply.WhichOneof("reply")
            if kind == "schema":
                self.schema_message = reply.schema
                if reply.schema.node:
                    self.node = reply.schema.node
                return reply.schema
            if kind == "summary":
                self.summary = reply.summary
                message = reply.summary.error or "the agent ended the run before it started"
                error = UsageError if reply.summary.exit_code == 2 else EspiaError
                raise error(message)
            if kind == "warning":
                self.warnings.append(reply.warning)
        raise AgentUnavailable(f"node {self.node}: the agent closed the stream without a schema")

    def _next_replies(self) -> Iterator[pb.RunReply]:
        assert self._replies is not None
        try:
            yield from self._replies
        except grpc.RpcError as exc:
            if self._closed or (
                isinstance(exc, grpc.Call) and exc.code() is grpc.StatusCode.CANCELLED
            ):
                return
            raise _translate(exc, self.node) from None

    def batches(
        self, schema: RemoteSchema, lock: AbstractContextManager[Any] | None = None
    ) -> Generator[RemoteBatch | str, None, None]:
        """Batches as they come, warnings (str) between them; ends with the agent's summary.

        With `lock` (streams of several nodes sharing one schema), each batch is
        decoded and handed over with the lock held until the caller asks for the
        next one: decoding and writing a batch are then one step across nodes.
        """
        decoder = StreamDecoder(schema, self.node)
        for reply in self._next_replies():
            kind = reply.WhichOneof("reply")
            if kind == "batch":
                batch = reply.batch
                if batch.seq <= self._seq:
                    raise WireError(f"node {self.node}: batch {batch.seq} after {self._seq}")
                self._seq = batch.seq
                self.kernel_lost += batch.kernel_lost
                self.queue_lost += batch.queue_lost
                with lock or contextlib.nullcontext():
                    events = decoder.decode(batch) if batch.count else []
                    self.delivered += len(events)
                    yield RemoteBatch(events, batch.kernel_lost, batch.queue_lost, batch.interval)
            elif kind == "warning":
                self.warnings.append(reply.warning)
                yield reply.warning
            elif kind == "summary":
                self.summary = reply.summary
                return
        if self.summary is None and not self._closed:
            raise AgentUnavailable(f"node {self.node}: the stream ended without a summary")

    def stop(self) -> None:
        """Asks the agent to stop the gadget (safe from another thread, e.g. on Ctrl-C)."""
        with self._lock:
            self._closed = True
            if self._call is not None:
                self._call.cancel()

    def close(self) -> None:
        self.stop()
        self._channel.close()


def agent_info(address: str, timeout: float = 5.0) -> pb.InfoReply:
    with grpc.insecure_channel(address) as channel:
        try:
            return pb_grpc.AgentStub(channel).Info(pb.InfoRequest(), timeout=timeout)
        except grpc.RpcError as exc:
            raise _translate(exc, address) from None
