"""The seeds kept in tests/fuzz/corpus/<parser>/, and strategies that fuzz from them.

A seed is a real input (a query dnspython wrote, a ClientHello Python's ssl
sent, a filter from the README...).  `mutated(name)` draws a seed and flips,
inserts, deletes or cuts bytes in it, so that the fuzzer spends its
examples near inputs that reach deep into the parser; `inputs(name)` mixes
those with unrelated random bytes.
"""

from __future__ import annotations

from pathlib import Path

from hypothesis import strategies as st

CORPUS = Path(__file__).parent.parent / "fuzz" / "corpus"


def seeds(name: str) -> list[bytes]:
    return [path.read_bytes() for path in sorted((CORPUS / name).iterdir())]


@st.composite
def _mutate(draw: st.DrawFn, seed: bytes) -> bytes:
    data = bytearray(seed)
    for _ in range(draw(st.integers(0, 8))):
        action = draw(st.sampled_from(["flip", "set", "insert", "delete", "cut"]))
        at = draw(st.integers(0, max(len(data) - 1, 0)))
        if action == "flip" and data:
            data[at] ^= 1 << draw(st.integers(0, 7))
        elif action == "set" and data:
            data[at] = draw(st.sampled_from([0, 1, 0x3F, 0x40, 0x7F, 0x80, 0xC0, 0xFF]))
        elif action == "insert":
            data[at:at] = draw(st.binary(min_size=1, max_size=16))
        elif action == "delete" and data:
            del data[at : at + draw(st.integers(1, 8))]
        elif action == "cut":
            del data[at:]
    return bytes(data)


def mutated(name: str) -> st.SearchStrategy[bytes]:
    return st.sampled_from(seeds(name)).flatmap(_mutate)


def inputs(name: str, max_size: int = 600) -> st.SearchStrategy[bytes]:
    return st.one_of(mutated(name), st.binary(max_size=max_size))


def texts(name: str) -> st.SearchStrategy[str]:
    """Text inputs: mutated seeds decoded leniently, and random text."""
    return st.one_of(
        mutated(name).map(lambda raw: raw.decode("utf-8", "replace")),
        st.text(max_size=80),
        st.text(alphabet=",:!~=<>\\()'\"a-z0-9 ._-", max_size=60),
    )
