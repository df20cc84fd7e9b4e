"""gRPC over a runtime's unix socket, for containerd's API and the CRI: unary calls and
server streams, on HTTP/2 (the pure-Python h2 state machine) and protobuf messages.

Why not grpcio: its import alone is 18 MB of espia's resident memory (a
30 MB C core, its threads and arenas), 4 more per channel, and 70-100 ms
of start-up, on every run where containerd answers; espia only needs a
handful of calls on one local connection.  This client is one socket, one
reader thread that hands each stream's frames to its waiter, and the
calls; it is imported only when a gRPC runtime's socket exists.

Every failure leaves this module as a one-line RuntimeUnavailable (its
cause a :class:`GrpcError` with the status name); a stream ended by
:meth:`GrpcClient.close` simply ends.
"""

from __future__ import annotations

import contextlib
import queue
import socket
import struct
import threading
from collections.abc import Iterator, Sequence
from typing import Any, NamedTuple, TypeVar
from urllib.parse import unquote

import h2.config
import h2.connection
import h2.errors
import h2.events
import h2.exceptions
import h2.settings

from espia.errors import RuntimeUnavailable

from ._socket import connect, probe, reason, unavailable

T = TypeVar("T")
Metadata = Sequence[tuple[str, str]]

CALL_TIMEOUT = 10.0
# Connecting is a version call: a socket that accepts and never speaks gRPC
# must not hold detect() for the full call timeout.
PING_TIMEOUT = 3.0
_MAX_MESSAGE = 64 << 20  # a node with thousands of containers answers List with megabytes
# Receive windows (HTTP/2 flow control): large, so that a List of megabytes is never
# held back waiting for our window updates.
_WINDOW = 1 << 30
_PREFIX = struct.Struct(">BI")  # a gRPC message: compressed flag, length
# grpc's status codes (google.rpc.Code), by number.
_CODES = (
    "OK",
    "CANCELLED",
    "UNKNOWN",
    "INVALID_ARGUMENT",
    "DEADLINE_EXCEEDED",
    "NOT_FOUND",
    "ALREADY_EXISTS",
    "PERMISSION_DENIED",
    "RESOURCE_EXHAUSTED",
    "FAILED_PRECONDITION",
    "ABORTED",
    "OUT_OF_RANGE",
    "UNIMPLEMENTED",
    "INTERNAL",
    "UNAVAILABLE",
    "DATA_LOSS",
    "UNAUTHENTICATED",
)


class Method(NamedTuple):
    """One RPC: its HTTP/2 path and the message class of its answers."""

    path: str  # "/containerd.services.tasks.v1.Tasks/List"
    response: Any  # a protobuf message class (FromString decodes one)


def method(module: Any, service: str, name: str) -> Method:
    """The RPC `service`/`name` declared in the generated protobuf `module`."""
    from google.protobuf.message_factory import GetMessageClass

    rpc = module.DESCRIPTOR.services_by_name[service].methods_by_name[name]
    return Method(f"/{rpc.containing_service.full_name}/{name}", GetMessageClass(rpc.output_type))


class GrpcError(Exception):
    """A call that ended with a status other than OK (or never got one)."""

    def __init__(self, code: str, details: str = "") -> None:
        super().__init__(f"{code}: {details}" if details else code)
        self.code = code
        self.details = details


_END = object()  # queued after a stream's last message


class _Call:
    """One stream's answers, as the reader thread hands them over: messages, then _END
    (status in `error`, None for OK)."""

    def __init__(self, method: Method) -> None:
        self.method = method
        self.items: queue.SimpleQueue[object] = queue.SimpleQueue()
        self.error: GrpcError | None = None
        self._buffer = bytearray()
        self._status: tuple[str, str] | None = None

    def data(self, chunk: bytes) -> None:
        self._buffer += chunk
        while len(self._buffer) >= _PREFIX.size:
            compressed, length = _PREFIX.unpack_from(self._buffer)
            if compressed:
                self.fail(GrpcError("INTERNAL", "compressed message (none was asked for)"))
                return
            if length > _MAX_MESSAGE:
                self.fail(GrpcError("RESOURCE_EXHAUSTED", f"message of {length} bytes"))
                return
            if len(self._buffer) < _PREFIX.size + length:
                return
            body = bytes(self._buffer[_PREFIX.size : _PREFIX.size + length])
            del self._buffer[: _PREFIX.size + length]
            self.items.put(self.method.response.FromString(body))

    def headers(self, headers: Sequence[tuple[Any, Any]]) -> None:
        fields = {_text(k): _text(v) for k, v in headers}
        if "grpc-status" in fields:
            number = int(fields["grpc-status"]) if fields["grpc-status"].isdigit() else 2
            code = _CODES[number] if number < len(_CODES) else "UNKNOWN"
            self._status = (code, unquote(fields.get("grpc-message", "")))
        elif fields.get(":status", "200") != "200":
            self._status = ("UNAVAILABLE", f"HTTP status {fields[':status']}")

    def ended(self) -> None:
        code, details = self._status or ("INTERNAL", "the stream ended without a status")
        self.fail(None if code == "OK" else GrpcError(code, details))

    def fail(self, error: GrpcError | None) -> None:
        if self.error is None:
            self.error = error
        self.items.put(_END)


def _text(value: Any) -> str:
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)


class _Connection:
    """One HTTP/2 connection: its socket, its state machine, the streams in flight and
    the thread that reads for them.  Once lost it stays lost (the client opens another)."""

    def __init__(self, runtime: str, path: str) -> None:
        self._sock = connect(runtime, path, timeout=None)
        self._lock = threading.Lock()  # the h2 state machine and the socket's writes
        self._calls: dict[int, _Call] = {}
        self.lost: GrpcError | None = None  # why the connection ended, once it has
        config = h2.config.H2Configuration(client_side=True, header_encoding=None)
        self._h2 = h2.connection.H2Connection(config)
        with self._lock:
            self._h2.initiate_connection()
            self._h2.update_settings({h2.settings.SettingCodes.INITIAL_WINDOW_SIZE: _WINDOW})
            self._h2.increment_flow_control_window(_WINDOW - 65535)
            self._flush()
        self._reader = threading.Thread(
            target=self._read, name=f"espia-{runtime}-grpc", daemon=True
        )
        self._reader.start()

    def _flush(self) -> None:
        """Sends what h2 has queued (the caller holds the lock)."""
        data = self._h2.data_to_send()
        if data:
            self._sock.sendall(data)

    def _read(self) -> None:
        try:
            while chunk := self._sock.recv(1 << 16):
                with self._lock:
                    events = self._h2.receive_data(chunk)
                    for event in events:
                        self._dispatch(event)
                    self._flush()
            lost = GrpcError("UNAVAILABLE", "the runtime closed the connection")
        except (OSError, h2.exceptions.ProtocolError) as exc:
            text = reason(exc) if isinstance(exc, OSError) else str(exc)
            lost = GrpcError("UNAVAILABLE", text)
        self._end(lost)

    def _end(self, lost: GrpcError) -> None:
        with self._lock:
            self.lost = self.lost or lost
            calls, self._calls = list(self._calls.values()), {}
        for call in calls:
            call.fail(lost)

    def _dispatch(self, event: h2.events.Event) -> None:
        """Hands one HTTP/2 event to its stream (the caller holds the lock)."""
        call = self._calls.get(getattr(event, "stream_id", 0) or 0)
        if isinstance(event, h2.events.DataReceived):
            self._h2.acknowledge_received_data(event.flow_controlled_length, event.stream_id)
            if call is not None and event.data:
                call.data(event.data)
        elif isinstance(event, h2.events.ResponseReceived | h2.events.TrailersReceived):
            if call is not None:
                call.headers(event.headers or ())
        elif isinstance(event, h2.events.StreamEnded):
            if call is not None:
                del self._calls[event.stream_id]
                call.ended()
        elif isinstance(event, h2.events.StreamReset):
            if call is not None:
                del self._calls[event.stream_id]
                call.fail(GrpcError("CANCELLED", f"stream reset ({event.error_code!s})"))
        elif isinstance(event, h2.events.ConnectionTerminated):
            lost = self.lost = GrpcError("UNAVAILABLE", "the runtime ended the connection")
            for pending in self._calls.values():
                pending.fail(lost)
            self._calls.clear()

    def start(
        self, method: Method, request: Any, metadata: Metadata, timeout: float | None
    ) -> tuple[int, _Call]:
        """Sends one request on a new stream."""
        body = request.SerializeToString()
        headers = [
            (":method", "POST"),
            (":scheme", "http"),
            (":path", method.path),
            (":authority", "localhost"),
            ("content-type", "application/grpc"),
            ("te", "trailers"),
            *((("grpc-timeout", f"{max(1, int(timeout * 1000))}m"),) if timeout else ()),
            *metadata,
        ]
        call = _Call(method)
        with self._lock:
            if self.lost is not None:
                raise self.lost
            stream = self._h2.get_next_available_stream_id()
            self._h2.send_headers(stream, headers)
            data = _PREFIX.pack(0, len(body)) + body
            frame = self._h2.max_outbound_frame_size  # requests are small: one frame, or a few
            for at in range(0, len(data), frame):
                end = at + frame >= len(data)
                self._h2.send_data(stream, data[at : at + frame], end_stream=end)
            self._calls[stream] = call
            self._flush()
        return stream, call

    def cancel(self, stream: int) -> None:
        with self._lock:
            if self._calls.pop(stream, None) is not None and self.lost is None:
                # If the connection is going, the stream goes with it.
                with contextlib.suppress(OSError, h2.exceptions.H2Error):
                    self._h2.reset_stream(stream, h2.errors.ErrorCodes.CANCEL)
                    self._flush()

    def answer(self, stream: int, call: _Call, timeout: float) -> Any:
        """The one message of a unary call."""
        answer: object = _END
        try:
            first = call.items.get(timeout=timeout)
            if first is not _END:
                answer = first
                if call.items.get(timeout=timeout) is not _END:
                    raise GrpcError("INTERNAL", "more than one answer to a unary call")
        except queue.Empty:
            self.cancel(stream)
            raise GrpcError("DEADLINE_EXCEEDED", f"no answer in {timeout:g} s") from None
        if call.error is not None:
            raise call.error
        if answer is _END:
            raise GrpcError("INTERNAL", "no answer to a unary call")
        return answer

    def close(self, why: GrpcError) -> None:
        self._end(why)
        with contextlib.suppress(OSError):
            self._sock.shutdown(socket.SHUT_RDWR)  # ends the reader's recv
        self._reader.join(timeout=CALL_TIMEOUT)
        self._sock.close()


class GrpcClient:
    """Calls to one runtime, on one connection at a time (another is opened when the
    runtime restarted); closing it ends every call in flight, from any thread."""

    def __init__(self, runtime: str, path: str) -> None:
        probe(runtime, path)
        self.runtime = runtime
        self.path = path
        self._lock = threading.Lock()
        self._closed = False
        self._connection = _Connection(runtime, path)

    def _live(self) -> _Connection:
        """The connection, or a new one if the runtime ended the last."""
        with self._lock:
            if self._closed:
                raise GrpcError("CANCELLED", "client closed")
            if self._connection.lost is not None:
                self._connection.close(self._connection.lost)  # its reader has ended
                self._connection = _Connection(self.runtime, self.path)
            return self._connection

    # --- calls -----------------------------------------------------------------

    def call(
        self,
        method: Method,
        request: object,
        action: str,
        metadata: Metadata = (),
        timeout: float = CALL_TIMEOUT,
    ) -> Any:
        """Make a unary call; failures become RuntimeUnavailable naming ``action``."""
        try:
            connection = self._live()
            stream, call = connection.start(method, request, metadata, timeout)
            return connection.answer(stream, call, timeout)
        except (GrpcError, RuntimeUnavailable, OSError, h2.exceptions.H2Error) as exc:
            raise self.error(action, exc) from exc

    def find(
        self, method: Method, request: object, action: str, metadata: Metadata = ()
    ) -> Any | None:
        """Like :meth:`call`, but None when the runtime answers NOT_FOUND."""
        try:
            return self.call(method, request, action, metadata)
        except RuntimeUnavailable as exc:
            cause = exc.__cause__
            if isinstance(cause, GrpcError) and cause.code == "NOT_FOUND":
                return None
            raise

    def calls(
        self, method: Method, requests: Sequence[object], action: str, metadata: Metadata = ()
    ) -> list[Any]:
        """Make many unary calls at once, in flight together; a NOT_FOUND one yields its
        GrpcError.

        Listing twenty containers needs twenty status calls: issuing them
        together costs one round trip instead of twenty.
        """
        results: list[Any] = []
        try:
            connection = self._live()
            started = [connection.start(method, r, metadata, CALL_TIMEOUT) for r in requests]
            for stream, call in started:
                try:
                    results.append(connection.answer(stream, call, CALL_TIMEOUT))
                except GrpcError as exc:
                    if exc.code != "NOT_FOUND":
                        raise
                    results.append(exc)
        except (GrpcError, RuntimeUnavailable, OSError, h2.exceptions.H2Error) as exc:
            raise self.error(action, exc) from exc
        return results

    def stream(
        self, method: Method, request: object, action: str, metadata: Metadata = ()
    ) -> Iterator[Any]:
        """Iterate a server stream until :meth:`close`; a stream that ends otherwise
        (the runtime stopped or restarted) raises RuntimeUnavailable."""
        try:
            connection = self._live()
            stream, call = connection.start(method, request, metadata, None)
        except (GrpcError, RuntimeUnavailable, OSError, h2.exceptions.H2Error) as exc:
            if self._closed:
                return
            raise self.error(action, exc) from exc
        try:
            while (item := call.items.get()) is not _END:
                yield item
        finally:
            connection.cancel(stream)
        if self._closed:
            return
        if call.error is not None:
            raise self.error(action, call.error) from call.error
        raise unavailable(self.runtime, action, "the runtime closed the stream")

    def error(self, action: str, exc: Exception) -> RuntimeUnavailable:
        """Translate a failure; a runtime that went away is re-probed for a clear cause."""
        if self._closed:
            return unavailable(self.runtime, action, "client closed")
        if isinstance(exc, RuntimeUnavailable):  # reconnecting failed: it says why
            return exc
        if not isinstance(exc, GrpcError):
            return unavailable(
                self.runtime, action, reason(exc) if isinstance(exc, OSError) else exc
            )
        if exc.code == "UNAVAILABLE":
            try:
                probe(self.runtime, self.path)
            except RuntimeUnavailable as down:
                return down
        code, details = exc.code.lower().replace("_", " "), exc.details
        cause = code if details.lower() in ("", code) else f"{code}: {details}"
        return unavailable(self.runtime, action, cause)

    def close(self) -> None:
        """End every call and the connection; idempotent and thread-safe."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
        self._connection.close(GrpcError("CANCELLED", "client closed"))
