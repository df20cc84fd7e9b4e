"""Semantic types: what a typedef of types.h means, all of it in one place.

A gadget's event struct declares its members with typedefs of
``include/espia/types.h`` (``gadget_errno err``).  Each typedef names one
:class:`SemanticType` here, which says everything espia does with such a
member:

- how the raw member becomes the event's value (``decode``; ``memo`` when
  values repeat, as comms and paths do; ``truncation`` when the decoder is
  told that the kernel cut the value, see ``gadget_truncated``);
- how the value is shown (the presentation of :class:`~espia.gadget.fields.Field`:
  ``render``, widths, visibility) and how a filter value is read for it;
- the filter it can push into the kernel (``kernel="pid"``: the program must
  call ``gadget_should_discard_current()`` or its like, which espia checks);
- the companion field it brings (ERR -> ERRNAME) or the fields it expands
  into (a DNS message -> QR, QTYPE, NAME...);
- the pipeline stage its events need (DNS pairing);
- how a gadget parameter of the type is read from text (``value``:
  "SIGKILL" -> 9), see :mod:`espia.gadget.params`.

Types register themselves (:func:`register`) from the modules of this
package, one per domain (process, files, net, dns, tcp, tls, signals,
capabilities, mounts), so a new type is a ``register`` call in its own
module and no table elsewhere changes.  A user gadget that declares the
same typedefs gets all of it.

Which namespace ties a gadget's events to containers is not a type's
business: the gadget declares it (``join:`` in gadget.yaml).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from espia.ebpf.btf import Leaf, Scalar
from espia.gadget.fields import Field, ValueKind

if TYPE_CHECKING:
    from espia.gadget.schema import EventSchema
    from espia.pipeline.operator import Operator

Stage = Callable[["EventSchema"], "Operator"]
# (suffix, render, parse, json_value) of a companion field: see SemanticType.
Companion = tuple[
    str, Callable[[Any], str], Callable[[str], Any] | None, Callable[[Any], Any] | None
]


class SemanticType:
    """What a member of one typedef becomes (see the module).

    `look` is the field such a member becomes, but for its name and path: its
    kind and presentation (the keyword arguments of :class:`Field`).
    """

    __slots__ = (
        "companion",
        "decode",
        "expand",
        "look",
        "memo",
        "stage",
        "truncation",
        "value",
    )

    def __init__(
        self,
        kind: ValueKind,
        *,
        companion: Companion | None = None,
        decode: Callable[..., Any] | None = None,
        memo: bool = False,
        truncation: bool = False,
        expand: tuple[Field, ...] = (),
        stage: Stage | None = None,
        value: Callable[[str], int] | None = None,
        **presentation: Any,
    ) -> None:
        self.look = Field("", (), kind, **presentation)
        # A companion field "<name><suffix>" shown with `render` (ERR -> ERRNAME), how
        # filter values are read for it, and its JSON value (see Field.json_value).
        self.companion = companion
        # Turns the raw member (bytes for arrays and structs) into the event's value.
        self.decode = decode
        # Decoded values repeat: the decoder remembers them (a bounded table per gadget).
        self.memo = memo
        # `decode(raw, truncated)`, with the `<name>_truncated` member, where there is one.
        self.truncation = truncation
        # The fields this member becomes instead of one of its own; their paths
        # start at the member's value (a DNS message -> QR, NAME...).
        self.expand = expand
        # Makes the stage events with such a member need, from the gadget's schema.
        self.stage = stage
        # Reads a parameter of this type written as text ("SIGKILL" -> 9); a ValueError
        # for text that names nothing.
        self.value = value

    @property
    def kind(self) -> ValueKind:
        return self.look.kind


_TYPES: dict[str, SemanticType] = {}


def register(typedef: str, semantic: SemanticType) -> SemanticType:
    """Makes `typedef` (a name of types.h, or of a gadget's own header) mean `semantic`."""
    if typedef in _TYPES:
        raise ValueError(f"semantic type {typedef} is registered twice")
    _TYPES[typedef] = semantic
    return semantic


def lookup(typedef: str) -> SemanticType | None:
    return _TYPES.get(typedef)


def names() -> list[str]:
    """The registered typedefs, in registration order."""
    return list(_TYPES)


def _typedef_of(leaf: Leaf) -> str | None:
    """The first semantic typedef met on the way to the member's type."""
    return next((typedef for typedef in leaf.typedefs if typedef in _TYPES), None)


def of_leaf(leaf: Leaf) -> SemanticType:
    """The semantic type of a member: its typedef's, or what its plain C type is."""
    typedef = _typedef_of(leaf)
    return _TYPES[typedef] if typedef else plain(leaf)


def plain(leaf: Leaf) -> SemanticType:
    """What a member without a semantic typedef is: a number, a string, a flag or bytes."""
    from espia.semantic.process import cstring

    if leaf.scalar is Scalar.CHARS:
        width = 16
        return SemanticType(
            ValueKind.STR,
            decode=cstring,
            memo=True,
            untrusted=True,
            width=width,
            wide=leaf.size > width,
        )
    if leaf.scalar is Scalar.BOOL:
        return SemanticType(ValueKind.BOOL, decode=bool, width=5)
    if leaf.scalar is Scalar.BYTES:
        return SemanticType(ValueKind.STR, decode=bytes.hex, hidden=True)
    if leaf.scalar is Scalar.ENUM:
        names = dict((value, name) for name, value in leaf.enum_values)
        spelled = {name.lower(): name for name in names.values()}
        return SemanticType(
            ValueKind.INT,
            render=lambda v: names.get(v, str(v)),
            json_text=True,
            width=10,
            parse=lambda text: spelled.get(text.lower(), text),
        )
    return SemanticType(ValueKind.INT, width=8, right=True)


# The built-in types register themselves on import.
from espia.semantic import (  # noqa: E402
    capabilities,
    dns,
    files,
    mounts,
    net,
    process,
    signals,
    tcp,
    tls,
)

__all__ = [
    "SemanticType",
    "capabilities",
    "dns",
    "files",
    "lookup",
    "mounts",
    "names",
    "net",
    "of_leaf",
    "plain",
    "process",
    "register",
    "signals",
    "tcp",
    "tls",
]
