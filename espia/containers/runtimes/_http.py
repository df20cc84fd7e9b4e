"""The Docker Engine API (HTTP/1.1 over a unix socket), spoken by dockerd and podman.

Each request is one GET on a connection of its own (``Connection: close``),
and the answer is read here: a status line, headers, and a body framed by
Content-Length, by chunks (the event stream) or by the end of the
connection.  Not ``http.client``: it imports ``ssl`` (OpenSSL, 3.5 MB
resident) and the email package, some 10 ms of start-up, for what is a
few lines of a local GET.  HTTP, socket and JSON failures leave this module
as a one-line RuntimeUnavailable.
"""

from __future__ import annotations

import contextlib
import io
import json
import socket
import threading
from collections.abc import Iterator
from typing import Any

from espia.errors import RuntimeUnavailable

from ._socket import connect, reason, unavailable

TIMEOUT = 10.0
_MAX_LINE = 64 << 10  # a status or header line, a chunk's size line
_MAX_HEADERS = 100


class NotFound(Exception):
    """The API answered 404: the object is gone (a container that died meanwhile)."""


class BadAnswer(Exception):
    """What came back is not HTTP/1.1 as this client reads it."""


class _Response:
    """One answer: its status, then its body as bytes or as lines."""

    def __init__(self, stream: io.BufferedReader) -> None:
        self._stream = stream
        status = self._line().split(None, 2)
        if len(status) < 2 or not status[0].startswith(b"HTTP/1.") or not status[1].isdigit():
            raise BadAnswer(f"status line {b' '.join(status)[:80]!r}")
        self.status = int(status[1])
        headers: dict[bytes, bytes] = {}
        while line := self._line().rstrip(b"\r\n"):
            name, colon, value = line.partition(b":")
            if not colon or len(headers) >= _MAX_HEADERS:
                raise BadAnswer(f"header {line[:80]!r}")
            headers[name.strip().lower()] = value.strip()
        self._chunked = headers.get(b"transfer-encoding", b"").lower() == b"chunked"
        length = headers.get(b"content-length")
        if length is not None and not length.isdigit():
            raise BadAnswer(f"Content-Length {length[:20]!r}")
        self._left = int(length) if length is not None and not self._chunked else None

    def _line(self, end_ok: bool = False) -> bytes:
        """One line; b"" if the connection ended before it and `end_ok`."""
        line = self._stream.readline(_MAX_LINE + 1)
        if len(line) > _MAX_LINE:
            raise BadAnswer("a line longer than 64 KiB")
        if not line.endswith(b"\n"):
            if end_ok and not line:
                return b""
            raise BadAnswer("the connection ended mid-answer")
        return line

    def _chunk_size(self) -> int:
        """The next chunk's size; 0 at the last chunk, or where the daemon went away
        between two chunks (a stream's end: the caller says so)."""
        line = self._line(end_ok=True)
        if not line:
            return 0
        try:
            return int(line.split(b";")[0].strip(), 16)
        except ValueError:
            raise BadAnswer(f"chunk size {line[:20]!r}") from None

    def pieces(self) -> Iterator[bytes]:
        """The body, in the pieces it comes in."""
        if self._chunked:
            while size := self._chunk_size():
                yield self._exactly(size)
                self._line()  # the CRLF after each chunk
            while self._line(end_ok=True).strip():  # trailers, up to the blank line
                pass
        elif self._left is not None:
            if self._left:
                yield self._exactly(self._left)
        else:  # until the daemon closes the connection
            while piece := self._stream.read1(1 << 16):
                yield piece

    def _exactly(self, size: int) -> bytes:
        data = self._stream.read(size)
        if len(data) < size:
            raise BadAnswer("the connection ended mid-body")
        return data

    def read(self, limit: int | None = None) -> bytes:
        body = bytearray()
        for piece in self.pieces():
            body += piece
            if limit is not None and len(body) >= limit:
                break
        return bytes(body[:limit])

    def lines(self) -> Iterator[bytes]:
        """The body's lines (a stream of JSON objects, one per line)."""
        pending = b""
        for piece in self.pieces():
            *complete, pending = (pending + piece).split(b"\n")
            yield from complete
        if pending:
            yield pending


class _Connection:
    """A unix socket for one request."""

    def __init__(self, runtime: str, path: str, timeout: float | None) -> None:
        self._runtime = runtime
        self._path = path
        self._timeout = timeout
        self.sock: socket.socket | None = None
        self._stream: io.BufferedReader | None = None

    def connect(self) -> None:
        self.sock = connect(self._runtime, self._path, self._timeout)

    def request(self, target: str) -> _Response:
        if self.sock is None:
            self.connect()
        assert self.sock is not None
        request = f"GET {target} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"
        self.sock.sendall(request.encode("ascii", "strict"))
        self._stream = self.sock.makefile("rb")
        return _Response(self._stream)

    def close(self) -> None:
        if self._stream is not None:
            self._stream.close()
        if self.sock is not None:
            self.sock.close()


class EngineClient:
    """Requests to one Engine API socket; :meth:`close` ends a running event stream."""

    def __init__(self, runtime: str, path: str) -> None:
        self.runtime = runtime
        self.path = path
        self._lock = threading.Lock()
        self._streams: set[_Connection] = set()
        self._closed = False

    def _send(self, conn: _Connection, target: str) -> _Response:
        """GET ``target``; a non-2xx answer raises NotFound or RuntimeUnavailable."""
        try:
            response = conn.request(target)
        except (OSError, UnicodeError, BadAnswer) as exc:
            raise self._error(target, exc) from exc
        if response.status == 404:
            raise NotFound(target)
        if not 200 <= response.status < 300:
            try:
                body = response.read(4096)
            except (OSError, BadAnswer):
                body = b""
            cause = f"HTTP {response.status}: {_message(body)}"
            raise unavailable(self.runtime, _action(target), cause)
        return response

    def get(self, target: str) -> bytes:
        """The body of a GET."""
        conn = _Connection(self.runtime, self.path, TIMEOUT)
        try:
            response = self._send(conn, target)
            try:
                return response.read()
            except (OSError, BadAnswer) as exc:
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
        conn = _Connection(self.runtime, self.path, None)
        with self._lock:
            if self._closed:
                return
            self._streams.add(conn)
        try:
            conn.connect()
            # A close() while we connected found no socket to shut down; the socket exists
            # now, so a later close() will shut it down, and this one is caught here.
            with self._lock:
                if self._closed:
                    return
            response = self._send(conn, target)
            for line in response.lines():
                if line.strip():
                    yield _decode(self.runtime, target, line)
        except (OSError, BadAnswer) as exc:
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
