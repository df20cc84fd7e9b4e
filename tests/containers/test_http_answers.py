"""The Engine API client's own HTTP/1.1 reader, on answers made here: every framing the
daemons use, and the broken ones (one BadAnswer, never a hang or a traceback)."""

from __future__ import annotations

import io

import pytest

from espia.containers.runtimes._http import BadAnswer, _Response


def answer(raw: bytes) -> _Response:
    return _Response(io.BufferedReader(io.BytesIO(raw)))


def test_a_body_of_content_length() -> None:
    response = answer(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nX: y\r\n\r\n[1,2]trailing")
    assert (response.status, response.read()) == (200, b"[1,2]")


def test_a_chunked_stream_in_lines_across_chunks() -> None:
    body = b'7\r\n{"a":1}\r\n4\r\n\n{"b\r\n4\r\n":2}\r\n1\r\n\n\r\n0\r\n\r\n'
    response = answer(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n" + body)
    assert list(response.lines()) == [b'{"a":1}', b'{"b":2}']


def test_a_chunked_stream_the_daemon_left_between_chunks_just_ends() -> None:
    response = answer(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nab\n\r\n")
    assert list(response.lines()) == [b"ab"]


def test_a_body_up_to_the_end_of_the_connection() -> None:
    assert answer(b"HTTP/1.0 404 Not Found\r\n\r\n{}").read() == b"{}"


@pytest.mark.parametrize(
    "raw",
    [
        b"",
        b"SSH-2.0-OpenSSH\r\n\r\n",
        b"HTTP/1.1 abc\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nno colon\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nX: " + b"y" * (70 << 10) + b"\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nContent-Length: 9\r\n\r\nshort",
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n9\r\nshort",
    ],
)
def test_a_broken_answer_is_one_bad_answer(raw: bytes) -> None:
    with pytest.raises(BadAnswer):
        answer(raw).read()
