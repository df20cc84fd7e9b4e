"""The ClientHello parser of trace sni on real hellos (Python's own TLS client), and on
mutated ones: whatever it is given, it returns what it could read and never raises."""

from __future__ import annotations

import random
import ssl

import pytest

from espia.semantic import tls


def client_hello(name: str, **options: object) -> bytes:
    """The first flight of Python's TLS client for `name`, made in memory (no network)."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    for key, value in options.items():
        setattr(context, key, value)
    context.set_alpn_protocols(["h2", "http/1.1"])
    incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
    conn = context.wrap_bio(incoming, outgoing, server_hostname=name)
    with pytest.raises(ssl.SSLWantReadError):
        conn.do_handshake()
    return outgoing.read()


def test_real_hellos_of_tls_13_and_12():
    assert tls.parse(client_hello("www.espia.test")) == tls.ClientHello(
        "www.espia.test", "TLS1.3", "h2,http/1.1"
    )
    old = client_hello("old.espia.test", maximum_version=ssl.TLSVersion.TLSv1_2)
    assert tls.parse(old) == tls.ClientHello("old.espia.test", "TLS1.2", "h2,http/1.1")


def test_a_hello_cut_anywhere_gives_no_made_up_name():
    hello = client_hello("cut.espia.test")
    for end in range(len(hello)):
        parsed = tls.parse(hello[:end])
        assert parsed.name in ("", "cut.espia.test")
        assert parsed.alpn in ("", "h2", "h2,http/1.1")


def test_mutated_hellos_never_raise():
    hello = bytearray(client_hello("fuzz.espia.test"))
    rng = random.Random(15)  # fixed: a failure is reproducible
    for _ in range(5000):
        mutated = bytearray(hello)
        for _ in range(rng.randint(1, 8)):
            at = rng.randrange(len(mutated))
            choice = rng.random()
            if choice < 0.6:
                mutated[at] = rng.randrange(256)
            elif choice < 0.8:
                del mutated[at : at + rng.randint(1, 64)]
            else:
                mutated[at:at] = rng.randbytes(rng.randint(1, 64))
        parsed = tls.parse(bytes(mutated))
        assert isinstance(parsed, tls.ClientHello)
        assert all(isinstance(value, str) for value in parsed)
