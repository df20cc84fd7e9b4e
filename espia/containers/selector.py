"""Which containers a gadget looks at: -c, -n, -p, -l, -A and --host.

Every selector given must hold.  `-l` takes kubectl's label selector syntax
(``app=web,tier!=db``, ``env in (prod,staging)``, ``!canary``): the same
text selects the same pods here, on every node of the cluster door, and in
kubectl.  Without any, everything is selected (the
local door shows the whole host); with one, processes outside containers
are left out unless --host is given too.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field

from espia.containers.model import Container
from espia.errors import UsageError


def _names(text: str | None) -> frozenset[str]:
    return frozenset(n.strip() for n in (text or "").split(",") if n.strip())


# Kubernetes' label syntax: a key is an optional DNS-subdomain prefix and "/", then a
# name of at most 63 characters; a value is such a name, or empty.
_NAME = r"[A-Za-z0-9](?:[-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?"
_KEY = re.compile(rf"\s*((?:[a-z0-9](?:[-a-z0-9.]{{0,251}}[a-z0-9])?/)?{_NAME})\s*")
_VALUE = re.compile(rf"\s*({_NAME}|)\s*")
_OPERATOR = re.compile(r"(==|=|!=|>|<|in\b|notin\b)\s*")
_SYNTAX = (
    "key=value, key==value, key!=value, key in (a,b), key notin (a,b), key, !key, key>N or key<N"
)


@dataclass(frozen=True)
class LabelTerm:
    """One requirement of a label selector, as kubectl reads it.

    `op` is "in" (`=`, `==` and `in (...)`), "notin" (`!=`, `notin (...)`),
    "exists" (`key`), "!exists" (`!key`), ">" or "<" (a number).  As in
    Kubernetes, `!=` and `notin` also hold for a pod without the label.
    """

    key: str
    op: str
    values: frozenset[str] = frozenset()

    def holds(self, labels: Mapping[str, str]) -> bool:
        value = labels.get(self.key)
        if self.op == "exists":
            return value is not None
        if self.op == "!exists":
            return value is None
        if self.op == "in":
            return value in self.values
        if self.op == "notin":
            return value not in self.values
        bound = int(next(iter(self.values)))
        try:
            number = int(value) if value is not None else None
        except ValueError:
            return False
        return number is not None and (number > bound if self.op == ">" else number < bound)


class _Reader:
    """The selector text, read left to right; every mistake a UsageError naming it."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.at = 0

    def fail(self, what: str) -> UsageError:
        return UsageError(f"selector {self.text!r}: {what} at column {self.at + 1} (use {_SYNTAX})")

    def match(self, pattern: re.Pattern[str]) -> re.Match[str] | None:
        found = pattern.match(self.text, self.at)
        if found:
            self.at = found.end()
        return found

    def take(self, literal: str) -> bool:
        rest = self.text[self.at :]
        if rest.lstrip().startswith(literal):
            self.at += len(rest) - len(rest.lstrip()) + len(literal)
            return True
        return False

    @property
    def done(self) -> bool:
        return not self.text[self.at :].strip()

    def key(self) -> str:
        found = self.match(_KEY)
        if not found:
            raise self.fail("expected a label key")
        return found.group(1)

    def value(self) -> str:
        found = self.match(_VALUE)
        if found is None:
            raise self.fail("expected a label value")
        return found.group(1)

    def values(self) -> frozenset[str]:
        if not self.take("("):
            raise self.fail("expected ( after in or notin")
        values = {self.value()}
        while self.take(","):
            values.add(self.value())
        if not self.take(")"):
            raise self.fail("expected , or ) in a set of values")
        return frozenset(values)

    def term(self) -> LabelTerm:
        if self.take("!"):
            return LabelTerm(self.key(), "!exists")
        key = self.key()
        if self.done or self.text[self.at :].lstrip().startswith(","):
            return LabelTerm(key, "exists")
        operator = self.match(_OPERATOR)
        if not operator:
            raise self.fail(f"expected an operator after {key!r}")
        op = operator.group(1)
        if op in ("in", "notin"):
            return LabelTerm(key, op, self.values())
        value = self.value()
        if op in (">", "<"):
            if not value.isdigit():
                raise self.fail(f"{key}{op} needs a whole number")
            return LabelTerm(key, op, frozenset({value}))
        return LabelTerm(key, "notin" if op == "!=" else "in", frozenset({value}))


def parse_labels(text: str | None) -> tuple[LabelTerm, ...]:
    """A label selector in kubectl's syntax (see LabelTerm); all its terms must hold."""
    if not text or not text.strip():
        return ()
    reader = _Reader(text)
    terms = [reader.term()]
    while not reader.done:
        if not reader.take(","):
            raise reader.fail("expected , between requirements")
        terms.append(reader.term())
    return tuple(terms)


@dataclass(frozen=True)
class ContainerSelector:
    """The selection flags, parsed."""

    containernames: frozenset[str] = frozenset()
    namespaces: frozenset[str] = frozenset()
    all_namespaces: bool = False
    podnames: frozenset[str] = frozenset()
    labels: tuple[LabelTerm, ...] = field(default_factory=tuple)
    host: bool = False
    # -l as given, to name it in messages.
    labels_text: str = ""

    @classmethod
    def from_flags(
        cls,
        containername: str | None = None,
        namespace: str | None = None,
        all_namespaces: bool = False,
        podname: str | None = None,
        selector: str | None = None,
        host: bool = False,
    ) -> ContainerSelector:
        return cls(
            containernames=_names(containername),
            namespaces=_names(namespace),
            all_namespaces=all_namespaces,
            podnames=_names(podname),
            labels=parse_labels(selector),
            host=host,
            labels_text=(selector or "").strip(),
        )

    @property
    def wants_pods(self) -> bool:
        """Whether selection is about Kubernetes pods (then the K8S columns are shown)."""
        return bool(self.namespaces or self.all_namespaces or self.podnames or self.labels)

    @property
    def active(self) -> bool:
        """False when everything is selected (no selector, or only --host)."""
        return bool(self.containernames) or self.wants_pods

    def describe(self) -> str:
        """The selectors as flags: "-c web -n prod"."""
        parts = [
            f"{flag} {','.join(sorted(names))}"
            for flag, names in (
                ("-c", self.containernames),
                ("-n", self.namespaces),
                ("-p", self.podnames),
            )
            if names
        ]
        if self.all_namespaces:
            parts.append("-A")
        if self.labels:
            parts.append(f"-l {self.labels_text!r}")
        return " ".join(parts)

    def nothing_selected(self) -> str:
        """What to say when no container matches at start (the run goes on, waiting)."""
        text = f"no container matches {self.describe()} yet: waiting for one to start"
        numbers = sorted(name for name in self.podnames if name.isdigit())
        if numbers:
            text += f"; -p is the pod name here: use -F pid:{numbers[0]} for a process"
        return text

    def selects(self, container: Container) -> bool:
        """Whether events of `container` (NO_CONTAINER: the host) are shown."""
        if not self.active:
            return True
        if not container:
            return self.host
        k8s = container.k8s
        if self.containernames and not (
            container.name in self.containernames or k8s.container in self.containernames
        ):
            return False
        if (self.namespaces or self.all_namespaces) and not k8s.namespace:
            return False
        if self.namespaces and k8s.namespace not in self.namespaces:
            return False
        if self.podnames and k8s.pod not in self.podnames:
            return False
        return all(term.holds(k8s.pod_labels) for term in self.labels)
