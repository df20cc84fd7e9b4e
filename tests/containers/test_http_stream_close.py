"""Closing the Engine API client while its event stream is still connecting ends the
stream at once, on a real unix socket whose server is slow to accept and never answers.

A listening unix socket with a backlog of 0 queues one connection; a second one's
connect() blocks until the server accepts.  So with one connection queued first, the
stream's connect() is in progress when close() runs: close() finds no socket to shut
down yet.  The stream must see, once connected, that it was closed, and end, rather
than wait for an answer that never comes.
"""

from __future__ import annotations

import socket
import threading
import time

from espia.containers.runtimes._http import EngineClient

ACCEPT_AFTER = 0.5


def test_close_during_connect_ends_the_stream_at_once(tmp_path) -> None:
    path = str(tmp_path / "engine.sock")
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    server.bind(path)
    server.listen(0)
    queued = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    queued.connect(path)  # fills the backlog: the next connect() blocks
    accepted: list[socket.socket] = []
    client = EngineClient("docker", path)
    ended = threading.Event()
    received: list[object] = []

    def read() -> None:
        received.extend(client.stream_json("/events"))
        ended.set()

    reader = threading.Thread(target=read, daemon=True)
    try:
        reader.start()
        time.sleep(0.2)  # the reader is in connect(), waiting for the server to accept
        assert not ended.is_set()
        client.close()
        time.sleep(ACCEPT_AFTER - 0.2)
        accepted += [server.accept()[0], server.accept()[0]]  # and never answer
        started = time.monotonic()
        assert ended.wait(2.0), "the stream still waits for an answer after close()"
        assert time.monotonic() - started < 0.5
        assert received == []
    finally:
        client.close()
        for sock in (*accepted, queued, server):
            sock.close()
        reader.join(5)
