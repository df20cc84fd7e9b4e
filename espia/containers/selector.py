"""Which containers a gadget looks at: -c, -n, -p, -l, -A and --host.

Every selector given must hold.  Without any, everything is selected (the
local door shows the whole host); with one, processes outside containers
are left out unless --host is given too.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from espia.containers.model import Container
from espia.errors import UsageError


def _names(text: str | None) -> frozenset[str]:
    return frozenset(n.strip() for n in (text or "").split(",") if n.strip())


@dataclass(frozen=True)
class LabelTerm:
    """`key=value`, `key!=value`, or `key` (present) / `!key` (absent)."""

    key: str
    value: str | None
    equal: bool

    def holds(self, labels: Mapping[str, str]) -> bool:
        if self.value is None:
            return (self.key in labels) == self.equal
        return (labels.get(self.key) == self.value) == self.equal


def parse_labels(text: str | None) -> tuple[LabelTerm, ...]:
    terms = []
    for raw in (t.strip() for t in (text or "").split(",")):
        if not raw:
            continue
        if "!=" in raw:
            key, _, value = raw.partition("!=")
            terms.append(LabelTerm(key.strip(), value.strip(), False))
        elif "=" in raw:
            key, _, value = raw.partition("=")
            terms.append(LabelTerm(key.strip(), value.strip().removeprefix("="), True))
        elif raw.startswith("!"):
            terms.append(LabelTerm(raw[1:].strip(), None, False))
        else:
            terms.append(LabelTerm(raw, None, True))
        if not terms[-1].key:
            raise UsageError(f"selector {raw!r}: expected key=value, key!=value or key")
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
        )

    @property
    def wants_pods(self) -> bool:
        """Whether selection is about Kubernetes pods (then the K8S columns are shown)."""
        return bool(self.namespaces or self.all_namespaces or self.podnames or self.labels)

    @property
    def active(self) -> bool:
        """False when everything is selected (no selector, or only --host)."""
        return bool(self.containernames) or self.wants_pods

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
