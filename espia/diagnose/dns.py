"""What is wrong with DNS, per client, in plain words: the analysis behind `espia diagnose dns`.

trace dns sees every DNS message of the host, in every network namespace;
a query to a server on the same host is seen twice (leaving the client,
reaching the server), and so is its response.  The diagnosis takes the
clients' view only: a query where it was sent (OUTGOING), a response where
it was received (HOST), the UNANSWERED record of a query where it was sent.
A client is a pod (namespace/pod), else a container, else a process.

Per client and nameserver it counts queries, answered (responses paired
with their query), unanswered, response codes, and the p50 and p99 of the
latency; then it looks for the usual troubles, most serious first:

- a nameserver that never answered (or left some queries unanswered);
- A and AAAA sent together on one socket with one of the two answers
  missing: the conntrack race of parallel lookups over UDP, after which
  the resolver waits its whole timeout (5 s);
- SERVFAIL and REFUSED answers, with their share of the responses;
- slow answers: p99 above a threshold;
- NXDOMAIN storms from search-path expansion (ndots): the name the client
  wanted, asked first with each search domain appended;
- a nameserver that is not the client's resolver: the one its own
  /etc/resolv.conf names (a pod's is the cluster DNS service, as the kubelet
  wrote it; a process's is read in its mount namespace when it is first
  seen), or the ones given (on a cluster: the cluster DNS service's address).

The events may come from any source with trace dns's fields: the local
gadget, or the merged streams of a cluster's agents, where a packet's
direction and time travel as their text (OUTGOING, an ISO time) and the
client's node is part of who it is.
"""

from __future__ import annotations

import calendar
import dataclasses
import math
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from espia._codegen import access, compile_function
from espia.errors import UsageError
from espia.gadget.event import Event
from espia.gadget.fields import Field, ValueKind
from espia.semantic.dns import UNANSWERED, latency_text
from espia.semantic.dns_pairing import UNANSWERED_AFTER
from espia.semantic.net import PACKET_TYPES

_TYPE_NUMBER = {name: number for number, name in PACKET_TYPES.items()}
OUTGOING, HOST = _TYPE_NUMBER["OUTGOING"], _TYPE_NUMBER["HOST"]
# A and AAAA of one lookup leave within microseconds; a later pair is a retry.
TOGETHER_NS = 1_000_000_000
DEFAULT_SLOW_NS = 200_000_000
# Search-path expansions a name needs before its storm is worth a finding.
STORM_MIN_NXDOMAIN = 2

SEVERITIES = ("critical", "error", "warning", "notice")

# The fields read from each event, in the order of the generated row.
_ROW = (
    "id",
    "qr",
    "type",
    "rcode",
    "name",
    "qtype",
    "nameserver",
    "latency",
    "timestamp",
    "src",
    "dst",
    "netns",
    # Who asked, in the order of DnsDiagnosis._client's arguments.
    "k8s.namespace",
    "k8s.pod",
    "runtime.containername",
    "pid",
    "comm",
    "k8s.node",
)
# And the pid of the client's container, whose /etc/resolv.conf names its resolver.
_CONTAINER_PID = ("container", "pid")


class Fields(Protocol):
    """What the diagnosis needs of a schema: its fields (a local EventSchema, or the
    RemoteSchema of a cluster's agents)."""

    @property
    def fields(self) -> tuple[Field, ...]: ...


class _IsoTime:
    """An event time sent as its text (2026-11-25T12:00:00.123456789Z) back to nanoseconds;
    only differences between times of one node matter."""

    def __init__(self) -> None:
        self._prefix = ""
        self._seconds = 0

    def __call__(self, text: str) -> int:
        prefix = text[:19]
        if prefix != self._prefix:
            try:
                self._seconds = calendar.timegm(time.strptime(prefix, "%Y-%m-%dT%H:%M:%S"))
            except ValueError:
                return 0
            self._prefix = prefix
        digits = text[20:29]
        return self._seconds * 1_000_000_000 + (int(digits) if digits.isdigit() else 0)


def _packet_type(text: str) -> int:
    return _TYPE_NUMBER.get(text, -1)


# The raw value of a field that may travel as its text, from that text.
_FROM_TEXT: dict[str, Callable[[], Callable[[str], int]]] = {
    "type": lambda: _packet_type,
    "timestamp": _IsoTime,
}


def host_resolvers(path: Path = Path("/etc/resolv.conf")) -> tuple[str, ...]:
    """The nameservers of `path` (none if it cannot be read)."""
    try:
        lines = path.read_text().splitlines()
    except OSError:
        return ()
    found = []
    for line in lines:
        words = line.split()
        if len(words) >= 2 and words[0] == "nameserver":
            found.append(words[1].split("%")[0])
    return tuple(found)


def percentile(ordered: Sequence[int], share: float) -> int:
    """Nearest-rank percentile of the sorted `ordered` (0 for none)."""
    if not ordered:
        return 0
    return ordered[max(0, math.ceil(share * len(ordered)) - 1)]


@dataclass(frozen=True)
class Client:
    """Who asked: a pod, a container, or a process (the first that applies)."""

    kind: str  # "pod", "container" or "process"
    namespace: str = ""
    node: str = ""  # on a cluster: where it runs
    pod: str = ""
    container: str = ""
    pid: int = 0
    comm: str = ""
    # The nameservers of its /etc/resolv.conf (not part of who it is).
    resolvers: tuple[str, ...] = field(default=(), compare=False)

    @property
    def name(self) -> str:
        if self.kind == "pod":
            return f"{self.namespace}/{self.pod}"
        if self.kind == "container":
            return self.container
        return f"{self.comm} (pid {self.pid})"

    @property
    def label(self) -> str:
        """How findings name it: with its node, on a cluster."""
        return f"{self.name} on {self.node}" if self.node else self.name


@dataclass
class ServerStats:
    """One client's exchanges with one nameserver."""

    queries: int = 0  # retransmissions (the same query again, unanswered yet) left out
    retransmissions: int = 0
    answered: int = 0
    unanswered: int = 0
    rcodes: Counter[str] = field(default_factory=Counter)
    latencies: list[int] = field(default_factory=list)
    # The shortest wait of an unanswered query (a query still waiting at the end waited less).
    waited: int = 0


@dataclass
class _Outcome:
    """A query's fate, for the A/AAAA pairing: answered or not, and when it was sent."""

    qtype: str
    sent: int
    answered: bool
    nameserver: str


@dataclass(frozen=True)
class Finding:
    severity: str
    kind: str
    client: str
    nameserver: str
    text: str
    numbers: dict[str, Any]
    node: str = ""


@dataclass
class ClientStats:
    servers: dict[str, ServerStats] = field(default_factory=lambda: defaultdict(ServerStats))
    # Per name: queries sent, and NXDOMAIN answers received.
    asked: Counter[str] = field(default_factory=Counter)
    nxdomain: Counter[str] = field(default_factory=Counter)
    # (netns, client endpoint, name) -> what became of each query sent from there.
    outcomes: dict[tuple[object, ...], list[_Outcome]] = field(
        default_factory=lambda: defaultdict(list)
    )


def _row_function(schema: Fields) -> Callable[[Event], tuple[Any, ...]]:
    """One generated function reading every field the diagnosis needs, raw (a value that
    travelled as its text turned back into the number it was)."""
    by_name = {f.name.lower(): f for f in schema.fields}
    namespace: dict[str, Any] = {}
    values = []
    for name in _ROW:
        found = by_name.get(name)
        if found is None:
            raise UsageError(f"diagnose dns: the events have no field {name!r}")
        value = access(found.path)
        if found.kind is ValueKind.STR and name in _FROM_TEXT:
            helper = f"_{name}_of"
            namespace[helper] = _FROM_TEXT[name]()
            value = f"{helper}({value})"
        values.append(value)
    values.append(access(_CONTAINER_PID))
    function: Callable[[Event], tuple[Any, ...]] = compile_function(
        "row", f"def row(e):\n    return ({', '.join(values)},)\n", namespace, "diagnose dns row"
    )
    return function


class DnsDiagnosis:
    """Accumulates trace dns events (`add`), then says what it saw (`report`)."""

    def __init__(
        self, schema: Fields, resolvers: Sequence[str] = (), *, cluster: bool = False
    ) -> None:
        """`resolvers`: the nameservers every client should use (default: each its own).
        `cluster`: the events come from other nodes' agents, so a client is also its node,
        and no /proc of this host says what its resolver is (only `resolvers` do)."""
        self._row = _row_function(schema)
        self.resolvers = tuple(resolvers)
        self.cluster = cluster
        self.clients: dict[Client, ClientStats] = defaultdict(ClientStats)
        self._who: dict[tuple[object, ...], Client] = {}
        # Queries sent and not answered yet, as the pairing keys them: the same one sent
        # again is a retransmission, not another query.
        self._pending: set[tuple[object, ...]] = set()

    def _client(
        self,
        namespace: str,
        pod: str,
        container: str,
        pid: int,
        comm: str,
        node: str,
        container_pid: int,
    ) -> Client:
        node = node if self.cluster else ""
        key = (namespace, pod, container, pid, comm, node)
        who = self._who.get(key)
        if who is None:
            resolvers = self.resolvers or self._own_resolvers(pod or container, container_pid, pid)
            if pod:
                who = Client("pod", namespace, node, pod=pod, resolvers=resolvers)
            elif container:
                who = Client("container", node=node, container=container, resolvers=resolvers)
            else:
                who = Client("process", node=node, pid=pid, comm=comm, resolvers=resolvers)
            self._who[key] = who
        return who

    def _own_resolvers(self, contained: str, container_pid: int, pid: int) -> tuple[str, ...]:
        """The client's /etc/resolv.conf, read once while it runs (it may be gone by the
        report); none for a client on another node."""
        if self.cluster:
            return ()
        owner = container_pid if contained else pid
        own = host_resolvers(Path(f"/proc/{owner}/root/etc/resolv.conf")) if owner else ()
        return own or host_resolvers()

    def add(self, events: Iterable[Event]) -> None:
        row, clients, pending = self._row, self.clients, self._pending
        for event in events:
            (ident, qr, kind, rcode, name, qtype, server, latency, time, src, dst, netns, *who) = (
                row(event)
            )
            if kind == OUTGOING and qr == "Q":
                stats = clients[self._client(*who)]
                exchange = stats.servers[server]
                key = (netns, ident, src, name, qtype)
                if rcode == UNANSWERED:
                    pending.discard(key)
                    exchange.unanswered += 1
                    if not exchange.waited or latency < exchange.waited:
                        exchange.waited = latency
                    stats.outcomes[netns, src, name].append(
                        _Outcome(qtype, time - latency, False, server)
                    )
                elif key in pending:
                    exchange.retransmissions += 1
                else:
                    pending.add(key)
                    exchange.queries += 1
                    stats.asked[name] += 1
            elif kind == HOST and qr == "R":
                pending.discard((netns, ident, dst, name, qtype))
                if not latency:
                    continue  # its query was sent before the watch began
                stats = clients[self._client(*who)]
                exchange = stats.servers[server]
                exchange.answered += 1
                exchange.rcodes[rcode] += 1
                exchange.latencies.append(latency)
                if rcode == "NXDOMAIN":
                    stats.nxdomain[name] += 1
                stats.outcomes[netns, dst, name].append(
                    _Outcome(qtype, time - latency, True, server)
                )

    # --- the report ----------------------------------------------------------

    def report(
        self,
        duration: float,
        lost: int,
        slow_ns: int = DEFAULT_SLOW_NS,
    ) -> dict[str, Any]:
        """The report as plain data (what `-o json` prints), findings most serious first."""
        findings: list[Finding] = []
        clients = []
        for who, stats in sorted(self.clients.items(), key=lambda item: item[0].label):
            mine: list[Finding] = []
            servers = []
            for server, exchange in sorted(stats.servers.items()):
                ordered = sorted(exchange.latencies)
                p50, p99 = percentile(ordered, 0.5), percentile(ordered, 0.99)
                servers.append(
                    {
                        "nameserver": server,
                        "queries": exchange.queries,
                        "retransmissions": exchange.retransmissions,
                        "answered": exchange.answered,
                        "unanswered": exchange.unanswered,
                        "rcodes": dict(sorted(exchange.rcodes.items())),
                        "p50": p50,
                        "p99": p99,
                    }
                )
                mine += _server_findings(who.label, server, exchange, p50, p99, slow_ns)
                if who.resolvers and server not in who.resolvers and exchange.queries:
                    mine.append(_foreign(who.label, server, exchange, who.resolvers))
            mine += _race_findings(who.label, stats)
            mine += _storm_findings(who.label, stats)
            # The texts name the client with its node; the records keep the two apart.
            findings += [dataclasses.replace(f, client=who.name, node=who.node) for f in mine]
            clients.append(
                {
                    "client": who.name,
                    "kind": who.kind,
                    **_identity(who),
                    "resolvers": list(who.resolvers),
                    "nameservers": servers,
                }
            )
        # Most serious first; within one severity and kind, by client then text, so that two
        # runs of the same workload print the same report.
        findings.sort(
            key=lambda f: (
                SEVERITIES.index(f.severity),
                _KINDS.index(f.kind),
                f.client,
                f.node,
                f.text,
            )
        )
        return {
            "duration": duration,
            "lost": lost,
            "queries": sum(s["queries"] for c in clients for s in c["nameservers"]),
            "findings": [
                {
                    "severity": f.severity,
                    "kind": f.kind,
                    "client": f.client,
                    **({"node": f.node} if f.node else {}),
                    "nameserver": f.nameserver,
                    "text": f.text,
                    **f.numbers,
                }
                for f in findings
            ],
            "clients": clients,
        }


_KINDS = ("no-answer", "a-aaaa-race", "server-errors", "slow", "search-path", "other-resolver")


def _identity(who: Client) -> dict[str, Any]:
    node = {"node": who.node} if who.node else {}
    if who.kind == "pod":
        return {"namespace": who.namespace, "pod": who.pod, **node}
    if who.kind == "container":
        return {"container": who.container, **node}
    return {"pid": who.pid, "comm": who.comm, **node}


def _seconds(nanoseconds: int) -> str:
    """ "5 s", "1.5 s", "230 ms"."""
    if nanoseconds >= 1_000_000_000:
        return f"{nanoseconds / 1e9:.1f}".removesuffix(".0") + " s"
    return f"{nanoseconds / 1e6:.0f} ms"


def _server_findings(
    who: str, server: str, exchange: ServerStats, p50: int, p99: int, slow_ns: int
) -> list[Finding]:
    found = []
    sent = exchange.queries
    if exchange.unanswered:
        full = exchange.waited >= UNANSWERED_AFTER * 1e9
        wait = _seconds(exchange.waited) + ("" if full else " (when the watch ended)")
        found.append(
            Finding(
                "critical" if exchange.unanswered >= sent else "error",
                "no-answer",
                who,
                server,
                f"{who}: {exchange.unanswered} of {sent} queries to {server} got no answer "
                f"in {wait}",
                {"unanswered": exchange.unanswered, "queries": sent},
            )
        )
    for rcode in ("SERVFAIL", "REFUSED"):
        count = exchange.rcodes.get(rcode, 0)
        if count:
            share = 100 * count / exchange.answered
            found.append(
                Finding(
                    "error",
                    "server-errors",
                    who,
                    server,
                    f"{who}: {count} of {exchange.answered} responses from {server} were "
                    f"{rcode} ({share:.0f}%)",
                    {"rcode": rcode, "count": count, "responses": exchange.answered},
                )
            )
    if exchange.answered and p99 > slow_ns:
        found.append(
            Finding(
                "warning",
                "slow",
                who,
                server,
                f"{who}: answers from {server} are slow: p99 {latency_text(p99)}, "
                f"p50 {latency_text(p50)} over {exchange.answered} answers "
                f"(threshold {latency_text(slow_ns)})",
                {"p50": p50, "p99": p99, "responses": exchange.answered, "threshold": slow_ns},
            )
        )
    return found


def _foreign(who: str, server: str, exchange: ServerStats, resolvers: Sequence[str]) -> Finding:
    count = exchange.queries
    return Finding(
        "notice",
        "other-resolver",
        who,
        server,
        f"{who}: {count} queries went to {server}, which is not its resolver "
        f"({', '.join(resolvers)})",
        {"queries": count},
    )


def _race_findings(who: str, stats: ClientStats) -> list[Finding]:
    """A and AAAA sent together from one socket, exactly one of the two answered."""
    pairs = Counter[str]()
    broken: Counter[tuple[str, str]] = Counter()
    for outcomes in stats.outcomes.values():
        by_type = {"A": [o for o in outcomes if o.qtype == "A"]}
        by_type["AAAA"] = [o for o in outcomes if o.qtype == "AAAA"]
        for a in by_type["A"]:
            twin = next((o for o in by_type["AAAA"] if abs(o.sent - a.sent) < TOGETHER_NS), None)
            if twin is None:
                continue
            by_type["AAAA"].remove(twin)
            pairs[a.nameserver] += 1
            if a.answered != twin.answered:
                broken[a.nameserver, "AAAA" if a.answered else "A"] += 1
    found = []
    for (server, missing), count in sorted(broken.items()):
        found.append(
            Finding(
                "error",
                "a-aaaa-race",
                who,
                server,
                f"{who}: {count} of {pairs[server]} lookups sent A and AAAA together on one "
                f"socket to {server} and got only one answer ({missing} missing): the resolver "
                f"then waits its timeout; this is the conntrack race of parallel lookups "
                f"(resolv.conf `options single-request-reopen`, or use-vc)",
                {"lookups": pairs[server], "broken": count, "missing": missing},
            )
        )
    return found


def _asked_stem(name: str, asked: Counter[str]) -> str | None:
    """The longest name asked that `name` extends ("a.b." for "a.b.svc.test."), if any.

    Labels are cut at dots; a dot inside a label is escaped (`\\.`), and a cut
    there only tries a name that was never asked."""
    labels = name[:-1].split(".")
    for keep in range(len(labels) - 1, 0, -1):
        stem = ".".join(labels[:keep]) + "."
        if stem in asked:
            return stem
    return None


def _storm_findings(who: str, stats: ClientStats) -> list[Finding]:
    """Names asked with search domains appended first (NXDOMAIN each), then as they are."""
    expansions: dict[str, list[str]] = defaultdict(list)
    for name in stats.nxdomain:
        stem = _asked_stem(name, stats.asked)
        if stem is not None:
            expansions[stem].append(name)
    found = []
    for wanted, names in sorted(expansions.items()):
        nx = sum(stats.nxdomain[n] for n in names)
        if nx < STORM_MIN_NXDOMAIN:
            continue
        lookups = stats.asked[wanted] + sum(stats.asked[n] for n in names)
        examples = ", ".join(sorted(names)[:3]) + (", ..." if len(names) > 3 else "")
        found.append(
            Finding(
                "warning",
                "search-path",
                who,
                "",
                f"{who}: {lookups} lookups for {wanted}, {nx} of them NXDOMAIN for search-path "
                f"expansions ({examples}); ask for {wanted} with its final dot, or lower ndots",
                {"name": wanted, "lookups": lookups, "nxdomain": nx, "expansions": sorted(names)},
            )
        )
    return found
