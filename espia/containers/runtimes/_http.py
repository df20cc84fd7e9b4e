"""The Docker Engine API (HTTP/1.1 over a unix socket), spoken by dockerd and podman.

Only the standard library: ``http.client`` with the connection's socket
swapped for a unix one. HTTP, socket and JSON failures leave this module as a
one-line RuntimeUnavailable.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import socket
import threading
from collections.abc import Iterator
from typing import Any

from espia.errors import RuntimeUnavailable

from ._socket import connect, reason, unavailable

TIMEOUT = 10.0


class NotFound(Exception):
    """The API answered 404: the object is gone (a container that died meanwhile)."""


class _UnixConnection(http.client.HTTPConnection):
    def __init__(self, runtime: str, path: str, timeout: float | None) -> None:
        super().__init__("localhost", timeout=timeout)
        self._runtime = runtime
        self._path = path

    def connect(self) -> None:
        self.sock = connect(self._runtime, self._path, self.timeout)


class EngineClient:
    """Requests to one Engine API socket; :meth:`close` ends a running event stream."""

    def __init__(self, runtime: str, path: str) -> None:
        self.runtime = runtime
        self.path = path
        self._lock = threading.Lock()
        self._streams: set[_UnixConnection] = set()
        self._closed = False

    def _send(self, conn: _UnixConnection, target: str) -> http.client.HTTPResponse:
        """GET ``target``; a non-2xx answer raises NotFound or RuntimeUnavailable."""
        try:
            conn.request("GET", target)
            response = conn.getresponse()
        except (OSError, http.client.HTTPException) as exc:
            raise self._error(target, exc) from exc
        if response.status == 404:
            response.read()
            raise NotFound(target)
        if not 200 <= response.status < 300:
            body = response.read(4096)
            cause = f"HTTP {response.status}: {_message(body)}"
            raise unavailable(self.runtime, _action(target), cause)
        return response

    def get(self, target: str) -> bytes:
        """The body of a GET."""
        conn = _UnixConnection(self.runtime, self.path, TIMEOUT)
        try:
            response = self._send(conn, target)
            try:
                return response.read()
            except (OSError, http.client.HTTPException) as exc:
                raise self._error(target, exc) from exc
        finally:
            conn.close()

    def get_json(self, target: str) -> Any:
        """A GET's body decoded as JSON."""
        return _decode(self.runtime, target, self.get(target))

    def stream_json(self, target: str) -> Iterator[Any]:
        """The JSON objects of a streaming GET, one per line, until :meth:`close`.

        The daemon ending the stream (it stopped or restarted) raises
        RuntimeUnavailable.
        """
        conn = _UnixConnection(self.runtime, self.path, None)
        with self._lock:
            if self._closed:
                return
            self._streams.add(conn)
        try:
            response = self._send(conn, target)
            while line := response.readline():
                if line.strip():
                    yield _decode(self.runtime, target, line)
        except (OSError, http.client.HTTPException) as exc:
            if not self._closed:
                raise self._error(target, exc) from exc
        finally:
            with self._lock:
                self._streams.discard(conn)
            conn.close()
        if not self._closed:
            raise unavailable(self.runtime, _action(target), "the daemon closed the stream")

    def _error(self, target: str, exc: Exception) -> RuntimeUnavailable:
        cause = reason(exc) if isinstance(exc, OSError) else f"bad HTTP answer ({exc!r})"
        return unavailable(self.runtime, _action(target), cause)

    def close(self) -> None:
        """Unblock and end every stream; idempotent and thread-safe."""
        with self._lock:
            self._closed = True
            streams = list(self._streams)
        for conn in streams:
            # Shutting the socket down wakes the reader blocked in recv(); an
            # OSError means the other side closed it, which woke the reader too.
            if conn.sock is not None:
                with contextlib.suppress(OSError):
                    conn.sock.shutdown(socket.SHUT_RDWR)


def _action(target: str) -> str:
    """``GET /events`` for messages: the query string is noise to a user."""
    return f"GET {target.partition('?')[0]}"


def _decode(runtime: str, target: str, body: bytes) -> Any:
    try:
        return json.loads(body)
    except ValueError as exc:
        raise unavailable(runtime, _action(target), f"bad JSON: {body[:80]!r}") from exc


def _message(body: bytes) -> str:
    """The daemon's error text: {"message": "..."} for dockerd and podman alike."""
    try:
        return str(json.loads(body)["message"])
    except (ValueError, KeyError, TypeError):
        return body.decode("utf-8", "replace")
