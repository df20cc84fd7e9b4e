"""Gadget parameters: `const volatile` globals a program marks with GADGET_PARAM(name).

``GADGET_PARAM(name)`` (espia/macros.h) leaves ``gadget_param__<name>`` in the
object's .rodata; the variable ``name`` beside it holds the default, and its
BTF type says what a value may be:

- ``bool``: ``true``/``false`` (also 1/0, yes/no, on/off); the named flag
  given alone (``--failed-only``) means true;
- an integer: decimal, or 0x... hex, range-checked for its size and sign;
- an enum: one of its names (any case) or a number;
- a semantic type that knows how to read one (``gadget_signal``: SIGKILL,
  kill or 9; ``gadget_errno``: ENOENT or 2);
- a ``char[N]``: a string of at most N-1 bytes.

gadget.yaml may describe each one under ``params:`` (``description``,
``default``, and ``short``, a one-letter flag).  Values are checked here,
before anything loads (a bad one is a UsageError), and become the bytes the
kernel-configuration phase writes into .rodata (espia.engine.kernel).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

from espia import semantic
from espia._codegen import is_identifier
from espia.ebpf.btf import Btf, Leaf, Scalar
from espia.errors import LoadError, UsageError
from espia.gadget.spec import GadgetSpec

PARAM_PREFIX = "gadget_param__"
_TRUE = {"true", "1", "yes", "on", ""}
_FALSE = {"false", "0", "no", "off"}


@dataclass(frozen=True)
class Param:
    """One parameter of a gadget: its C variable, its type, and how it is presented."""

    name: str
    leaf: Leaf
    description: str = ""
    # The value used when none is given, as text (gadget.yaml's, else the program's).
    default: str = ""
    # A one-letter flag (gadget.yaml's `short`), if any.
    short: str = ""
    # Whether `default` is gadget.yaml's (then written before load; the program's is there).
    preset: bool = False

    @property
    def flag(self) -> str:
        """The named form: --failed-only for failed_only."""
        return "--" + self.name.replace("_", "-")

    @property
    def type_name(self) -> str:
        """What --help says a value is: bool, int32, uint64, string(15), signal..."""
        typed = _semantic(self.leaf)
        if typed:
            return typed.removeprefix("gadget_")
        scalar = self.leaf.scalar
        if scalar is Scalar.BOOL:
            return "bool"
        if scalar is Scalar.CHARS:
            return f"string({self.leaf.size - 1})"
        if scalar is Scalar.ENUM:
            return "|".join(name.lower() for name, _ in self.leaf.enum_values)
        sign = "int" if scalar is Scalar.SINT else "uint"
        return f"{sign}{self.leaf.size * 8}"

    def encode(self, value: object) -> bytes:
        """The bytes of `value` for this variable; a UsageError that says what is expected."""
        try:
            return _encode(self.leaf, value)
        except ValueError as exc:
            raise UsageError(f"parameter {self.name}: {exc}") from None

    def decode(self, raw: bytes) -> str:
        """The text of a value held in .rodata (the program's default)."""
        leaf = self.leaf
        if leaf.scalar is Scalar.CHARS:
            return raw.partition(b"\0")[0].decode("utf-8", "surrogateescape")
        number = int.from_bytes(raw[: leaf.size], "little", signed=leaf.scalar is Scalar.SINT)
        if leaf.scalar is Scalar.BOOL:
            return "true" if number else "false"
        if leaf.scalar is Scalar.ENUM:
            names = {v: n.lower() for n, v in leaf.enum_values}
            return names.get(number, str(number))
        return str(number)


def _semantic(leaf: Leaf) -> str | None:
    """The typedef of `leaf` whose semantic type can read a parameter's text."""
    for typedef in leaf.typedefs:
        typed = semantic.lookup(typedef)
        if typed is not None and typed.value is not None:
            return typedef
    return None


def _integer(leaf: Leaf, value: object) -> int:
    if isinstance(value, bool):
        raise ValueError(f"{value!r} is not a number")
    if isinstance(value, int):
        return value
    if not isinstance(value, str) or not value.strip():
        raise ValueError("expected a value")
    text = value.strip()
    typedef = _semantic(leaf)
    if typedef is not None:
        reader = semantic.lookup(typedef)
        assert reader is not None and reader.value is not None
        return reader.value(text)
    if leaf.scalar is Scalar.ENUM:
        for name, number in leaf.enum_values:
            if name.lower() == text.lower():
                return number
    try:
        return int(text, 0)
    except ValueError:
        names = [name.lower() for name, _ in leaf.enum_values]
        expected = f"one of {', '.join(names)}" if names else "a number"
        raise ValueError(f"{value!r} is not {expected}") from None


def _encode(leaf: Leaf, value: object) -> bytes:
    if leaf.scalar is Scalar.BOOL:
        if isinstance(value, bool):
            return bytes([value])
        text = str(value).strip().lower() if isinstance(value, str | int) else None
        if text in _TRUE:
            return b"\1"
        if text in _FALSE:
            return b"\0"
        raise ValueError(f"{value!r} is not true or false")
    if leaf.scalar is Scalar.CHARS:
        if not isinstance(value, str):
            raise ValueError(f"{value!r} is not a string")
        raw = value.encode("utf-8", "surrogateescape")
        if b"\0" in raw:
            raise ValueError("a NUL byte cannot be part of a string")
        if len(raw) >= leaf.size:
            raise ValueError(f"{len(raw)} bytes is longer than its {leaf.size - 1}")
        return raw.ljust(leaf.size, b"\0")
    if leaf.scalar in (Scalar.UINT, Scalar.SINT, Scalar.ENUM):
        number = _integer(leaf, value)
        signed = leaf.scalar is Scalar.SINT or (leaf.scalar is Scalar.ENUM and number < 0)
        try:
            return number.to_bytes(leaf.size, "little", signed=signed)
        except OverflowError:
            bits = leaf.size * 8
            low = -(1 << (bits - 1)) if signed else 0
            high = (1 << (bits - 1 if signed else bits)) - 1
            raise ValueError(f"{number} is out of range ({low} to {high})") from None
    raise ValueError("this type of variable cannot be a parameter")


_SUPPORTED = (Scalar.BOOL, Scalar.CHARS, Scalar.UINT, Scalar.SINT, Scalar.ENUM)


def find_params(
    spec: GadgetSpec, btf: Btf, initial: Callable[[str], bytes] | None, source: str
) -> tuple[Param, ...]:
    """The parameters the object's BTF marks, described by gadget.yaml; `initial` reads a
    variable's value in the opened object (its default); `source` names the object."""
    rodata = {var.name: var for var in btf.datasec(".rodata")}
    found: list[Param] = []
    for marker in rodata:
        if not marker.startswith(PARAM_PREFIX):
            continue
        name = marker.removeprefix(PARAM_PREFIX)
        var = rodata.get(name)
        if not is_identifier(name) or var is None:
            raise LoadError(
                f"read {source}: GADGET_PARAM({name}) names no const volatile global of .rodata"
            )
        leaf = btf.leaf(name, var.type_id)
        if leaf.scalar not in _SUPPORTED or (leaf.scalar is not Scalar.CHARS and leaf.size > 8):
            raise LoadError(
                f"read {source}: parameter {name} is of a type a parameter cannot have "
                "(use an integer, bool, enum, semantic type or char array)"
            )
        options = spec.params.get(name, {})
        param = Param(
            name,
            leaf,
            description=str(options.get("description") or ""),
            short=str(options.get("short") or ""),
        )
        default = options.get("default")
        if default is not None:
            param.encode(default if isinstance(default, bool | int) else str(default))
            text = str(default).lower() if isinstance(default, bool) else str(default)
        else:
            text = param.decode(initial(name)) if initial else ""
        found.append(
            Param(param.name, leaf, param.description, text, param.short, default is not None)
        )
    unknown = set(spec.params) - {p.name for p in found}
    if unknown:
        raise LoadError(
            f"read {spec.folder}/gadget.yaml: params {', '.join(sorted(unknown))} are not "
            f"marked GADGET_PARAM in {source}"
        )
    return tuple(sorted(found, key=lambda p: p.name))


def encode_values(
    params: tuple[Param, ...], values: Mapping[str, object], title: str
) -> dict[str, bytes]:
    """{variable: bytes} for the values given and gadget.yaml's defaults; a UsageError
    for a parameter the gadget does not have, or a bad value."""
    known = {p.name: p for p in params}
    for name in values:
        if name not in known:
            have = ", ".join(known) or "none"
            raise UsageError(f"{title} has no parameter {name!r} (its parameters: {have})")
    return {
        p.name: p.encode(values.get(p.name, p.default))
        for p in params
        if p.name in values or p.preset
    }
