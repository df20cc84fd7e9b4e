"""A gRPC channel to a runtime's unix socket, for containerd's API and the CRI.

grpc is imported here, when a client is built, never at espia's start-up
(``import grpc`` costs ~70 ms). Every grpc failure leaves this module as a
one-line RuntimeUnavailable; a stream cancelled by :meth:`GrpcClient.close`
simply ends.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator, Sequence
from typing import Any, TypeVar

from espia.errors import RuntimeUnavailable

from ._socket import probe, unavailable

T = TypeVar("T")
Metadata = Sequence[tuple[str, str]]

CALL_TIMEOUT = 10.0
# Connecting is a version call: a socket that accepts and never speaks gRPC
# must not hold detect() for the full call timeout.
PING_TIMEOUT = 3.0
_MAX_MESSAGE = 64 << 20  # a node with thousands of containers answers List with megabytes


class GrpcClient:
    """One channel to one runtime; closing it ends every call in flight, from any thread."""

    def __init__(self, runtime: str, path: str) -> None:
        probe(runtime, path)
        import grpc

        self.runtime = runtime
        self.path = path
        self.channel = grpc.insecure_channel(
            f"unix://{path}", options=[("grpc.max_receive_message_length", _MAX_MESSAGE)]
        )
        self._streams: set[Any] = set()
        self._lock = threading.Lock()
        self._closed = False

    def call(
        self,
        method: Callable[..., T],
        request: object,
        action: str,
        metadata: Metadata = (),
        timeout: float = CALL_TIMEOUT,
    ) -> T:
        """Make a unary call; failures become RuntimeUnavailable naming ``action``."""
        import grpc

        try:
            return method(request, timeout=timeout, metadata=metadata)
        except grpc.RpcError as exc:
            raise self.error(action, exc) from exc
        except ValueError as exc:  # grpc's "Cannot invoke RPC on closed channel!"
            raise unavailable(self.runtime, action, "client closed") from exc

    def find(
        self, method: Callable[..., T], request: object, action: str, metadata: Metadata = ()
    ) -> T | None:
        """Like :meth:`call`, but None when the runtime answers NOT_FOUND."""
        import grpc

        try:
            return self.call(method, request, action, metadata)
        except RuntimeUnavailable as exc:
            cause = exc.__cause__
            if isinstance(cause, grpc.RpcError) and cause.code() == grpc.StatusCode.NOT_FOUND:
                return None
            raise

    def calls(
        self, method: Any, requests: Sequence[object], action: str, metadata: Metadata = ()
    ) -> list[Any]:
        """Make many unary calls at once, in flight together; a failed one yields its RpcError.

        Listing twenty containers needs twenty status calls: issuing them
        together costs one round trip instead of twenty.
        """
        import grpc

        try:
            futures = [method.future(r, timeout=CALL_TIMEOUT, metadata=metadata) for r in requests]
        except ValueError as exc:  # closed channel
            raise unavailable(self.runtime, action, "client closed") from exc
        results: list[Any] = []
        for future in futures:
            try:
                results.append(future.result())
            except grpc.RpcError as exc:
                if exc.code() == grpc.StatusCode.NOT_FOUND:
                    results.append(exc)
                else:
                    raise self.error(action, exc) from exc
        return results

    def stream(
        self, method: Callable[..., Any], request: object, action: str, metadata: Metadata = ()
    ) -> Iterator[Any]:
        """Iterate a server stream until :meth:`close`; a stream that ends otherwise
        (the runtime stopped or restarted) raises RuntimeUnavailable."""
        import grpc

        with self._lock:
            if self._closed:
                return
            call = method(request, metadata=metadata)
            self._streams.add(call)
        try:
            yield from call
        except grpc.RpcError as exc:
            if self._closed:
                return
            raise self.error(action, exc) from exc
        finally:
            with self._lock:
                self._streams.discard(call)
            call.cancel()
        if not self._closed:
            raise unavailable(self.runtime, action, "the runtime closed the stream")

    def error(self, action: str, exc: Any) -> RuntimeUnavailable:
        """Translate an RpcError; a runtime that went away is re-probed for a clear cause."""
        import grpc

        if self._closed:
            return unavailable(self.runtime, action, "client closed")
        if exc.code() == grpc.StatusCode.UNAVAILABLE:
            try:
                probe(self.runtime, self.path)
            except RuntimeUnavailable as down:
                return down
        code, details = exc.code().name.lower().replace("_", " "), exc.details() or ""
        cause = code if details.lower() in ("", code) else f"{code}: {details}"
        return unavailable(self.runtime, action, cause)

    def close(self) -> None:
        """Cancel streams and close the channel; idempotent and thread-safe."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            streams = list(self._streams)
        for call in streams:
            call.cancel()
        self.channel.close()
