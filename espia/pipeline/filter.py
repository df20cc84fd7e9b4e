"""Filter: `-F/--filter` terms, pushed into the kernel where they can be, the rest here.

Grammar: terms separated by commas (``\\,`` is a literal comma), all must
hold.  A term is ``field`` + operator + value::

    field:value    field==value    equals
    field:!value   field!=value    differs
    field:~re      field=~re       regex search matches
    field:!~re     field!~re       regex does not match
    field:>N  field:>=N  field:<N  field:<=N   (also without the colon)

The spelled-out operators may follow the colon too (``err:==2``,
``path:=~x``, ``pid:!=1``): a value that starts with them has no other
meaning.  A number outside the range of the field's C type (``pid:-5``,
a pid beyond 2^32) is a usage error: no event could ever hold it.

Numbers compare as numbers.  A field with a rendering (flags, errno names)
compares its text, so ``flags:~O_WRONLY`` and ``err:2`` both work.  A
field's semantic type reads the value (``Field.parse``): names of an
enumeration in any case (``qtype:aaaa``, ``errname:enoent``), a DNS name
with or without its final dot, a LATENCY with a unit (``latency:>5ms``).

Equality terms on the fields of the current task (pid, tid, uid, gid, comm)
become read-only globals of the program: the kernel drops the rest before
copying anything.  The user-space predicate still checks every term, so a
pushed term can never widen what is shown.

In user space the terms are split by what they read (`split_terms_by`):
terms on fields no stage writes run before the stages (an event they drop
is never held waiting for its container), terms on fields a stage writes
(container columns, DNS latency, RCODE UNANSWERED) run after it.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from espia._codegen import access, compile_function
from espia.errors import UsageError
from espia.gadget.event import Event
from espia.gadget.fields import Field, ValueKind
from espia.gadget.schema import EventSchema
from espia.pipeline.operator import Operator
from espia.semantic.process import COMM_MAX

# Longest spellings first, so that ":!~" is not read as ":!" + "~...".
_OPERATORS = (
    (":!~", "!~"),
    (":>=", ">="),
    (":<=", "<="),
    (":!", "!="),
    (":~", "~"),
    (":>", ">"),
    (":<", "<"),
    (":", "=="),
    ("==", "=="),
    ("!=", "!="),
    ("=~", "~"),
    ("!~", "!~"),
    (">=", ">="),
    ("<=", "<="),
    (">", ">"),
    ("<", "<"),
)
# What may follow the colon as the operator itself (`err:==2` is `err==2`).
_AFTER_COLON = ("==", "!=", "=~", "!~", ">", "<")
_FIELD_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_.]*")
_NUMERIC = {">", ">=", "<", "<="}


@dataclass(frozen=True, slots=True)
class Term:
    """One parsed term: `field op value`."""

    field: str
    op: str
    value: str
    source: str


def split_terms(text: str) -> list[str]:
    """Splits on commas that are not escaped as ``\\,``."""
    terms: list[str] = []
    current: list[str] = []
    i = 0
    while i < len(text):
        char = text[i]
        if char == "\\" and text[i + 1 : i + 2] == ",":
            current.append(",")
            i += 2
            continue
        if char == ",":
            terms.append("".join(current))
            current = []
        else:
            current.append(char)
        i += 1
    terms.append("".join(current))
    return [t for t in (term.strip() for term in terms) if t]


def parse(text: str) -> list[Term]:
    """Parses a filter string; every malformed term is a UsageError naming it."""
    terms = []
    for source in split_terms(text):
        match = _FIELD_NAME.match(source)
        if not match:
            raise UsageError(f"filter {source!r}: expected field:value, e.g. comm:cat")
        field, rest = match.group(), source[match.end() :]
        if rest.startswith(":") and rest[1:].startswith(_AFTER_COLON):
            rest = rest[1:]  # the colon before a spelled-out operator: `err:==2`, `path:=~x`
        for spelling, op in _OPERATORS:
            if rest.startswith(spelling):
                terms.append(Term(field, op, rest[len(spelling) :], source))
                break
        else:
            raise UsageError(
                f"filter {source!r}: unknown operator after {field!r} "
                "(use :, :!, :~, :!~, :>, :>=, :<, :<=)"
            )
    return terms


def _number(text: str) -> int | None:
    try:
        return int(text, 0)
    except ValueError:
        return None


def _value(term: Term, field: Field) -> Any:
    """The term's value as the field reads it (its type's parse: "aaaa" -> "AAAA", "5ms")."""
    if field.parse is None:
        return term.value
    try:
        return field.parse(term.value)
    except UsageError as exc:
        raise UsageError(f"filter {term.source!r}: {exc}") from None


def _check_range(term: Term, field: Field, number: int, bounds: tuple[int, int]) -> None:
    low, high = bounds
    if not low <= number <= high:
        raise UsageError(
            f"filter {term.source!r}: {number} is out of range for {field.name} "
            f"({low} to {high}): no event can hold it"
        )


def _compile_term(
    term: Term, field: Field, index: int, scope: dict[str, Any], bounds: tuple[int, int]
) -> str:
    raw = access(field.path)
    text = raw if field.kind is ValueKind.STR and not field.render else f"_text{index}({raw})"
    if field.render or field.kind is not ValueKind.STR:
        scope[f"_text{index}"] = field.text
    if term.op in ("~", "!~"):
        try:
            scope[f"_re{index}"] = re.compile(term.value).search
        except re.error as exc:
            raise UsageError(f"filter {term.source!r}: bad regex: {exc}") from exc
        test = f"_re{index}({text}) is not None"
        return test if term.op == "~" else f"not ({test})"
    value = _value(term, field)
    number: int | None = None
    if field.kind is ValueKind.INT:
        number = value if isinstance(value, int) else _number(value)
        if number is not None:
            _check_range(term, field, number, bounds)
    if term.op in _NUMERIC:
        if field.kind is not ValueKind.INT:
            raise UsageError(
                f"filter {term.source!r}: {field.name} is text; {term.op} compares numbers"
            )
        if number is None:
            raise UsageError(f"filter {term.source!r}: {term.value!r} is not a number")
        return f"{raw} {term.op} {number}"
    if number is not None:
        return f"{raw} {term.op} {number}"
    if field.kind is ValueKind.INT and field.render is None:
        raise UsageError(f"filter {term.source!r}: {field.name} is a number, not {term.value!r}")
    if field.kind is ValueKind.BOOL:
        scope[f"_value{index}"] = term.value.lower() in ("1", "true", "yes", "y")
        return f"bool({raw}) {term.op} _value{index}"
    scope[f"_value{index}"] = value
    return f"{text} {term.op} _value{index}"


@dataclass(frozen=True)
class Filter:
    """A compiled filter: the predicate for user space, the values for the kernel."""

    terms: tuple[Term, ...]
    predicate: Callable[[Event], bool] | None
    # rodata variables to set: {"gadget_filter_pid": b"...", ...}, by field's `kernel` name.
    kernel: dict[str, int | str]

    def apply(self, events: list[Event]) -> list[Event]:
        predicate = self.predicate
        if predicate is None:
            return events
        return [e for e in events if predicate(e)]


def parse_all(text: str | Sequence[str] | None) -> tuple[Term, ...]:
    """The terms of one -F value, or of several (repeated -F: all must hold)."""
    if text is None:
        return ()
    if isinstance(text, str):
        return tuple(parse(text))
    return tuple(term for part in text for term in parse(part))


def compile_filter(text: str | Sequence[str] | None, schema: EventSchema) -> Filter:
    """Parses and compiles `text` against `schema`'s fields."""
    return compile_terms(parse_all(text), schema)


def split_terms_by(
    terms: Iterable[Term], schema: EventSchema, written: set[str]
) -> tuple[tuple[Term, ...], tuple[Term, ...]]:
    """(terms on fields no stage writes, terms on fields in `written`)."""
    early: list[Term] = []
    late: list[Term] = []
    for term in terms:
        name = schema.field(term.field).name
        (late if name in written else early).append(term)
    return tuple(early), tuple(late)


def compile_terms(terms: tuple[Term, ...], schema: EventSchema) -> Filter:
    """One predicate for `terms` (all must hold), and what of them the kernel can apply."""
    if not terms:
        return Filter((), None, {})
    scope: dict[str, Any] = {}
    tests = []
    kernel: dict[str, int | str] = {}
    for index, term in enumerate(terms):
        field = schema.field(term.field)
        tests.append(_compile_term(term, field, index, scope, schema.int_range(field)))
        pushed = _kernel_value(term, field)
        if pushed is not None and field.kernel:
            if kernel.get(field.kernel, pushed) != pushed:
                # Two different values for one field can never both hold: keep
                # the first in the kernel, the predicate will reject the rest.
                continue
            kernel[field.kernel] = pushed
    source = "def keep(e):\n    return " + " and ".join(f"({t})" for t in tests) + "\n"
    keep = compile_function("keep", source, scope, label=f"{schema.spec.title} filter")
    return Filter(terms, keep, kernel)


def _kernel_value(term: Term, field: Field) -> int | str | None:
    """The value an equality term sets in the kernel, or None if it cannot be pushed."""
    if term.op != "==" or not field.kernel:
        return None
    if field.kind is ValueKind.STR:
        if not term.value or len(term.value.encode()) > COMM_MAX:
            return None
        return term.value
    number = _number(term.value)
    return number if number is not None and 0 <= number < 2**32 else None


class FilterStage(Operator):
    """A compiled filter as a stage, at `priority` (early or late: see the module)."""

    name = "filter"

    def __init__(self, compiled: Filter, priority: int) -> None:
        self.filter = compiled
        self.priority = priority

    def process(self, events: list[Event]) -> list[Event]:
        return self.filter.apply(events)
