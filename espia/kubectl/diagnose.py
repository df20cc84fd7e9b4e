"""`kubectl espia diagnose dns`: the local door's DNS diagnosis over every selected node.

trace dns runs on each node's agent for `--duration` seconds, as
`kubectl espia trace dns` runs it (same scope, the same per-node warnings
and summary lines on stderr); the merged stream is fed, batch by batch, to
the analysis the local command uses (espia.diagnose.dns), which names each
client with its node.  A client's resolver, on a cluster, is the cluster's
DNS service: the ClusterIP of kube-system/kube-dns, read from the API
server (`--resolver` overrides it), so a pod with `dnsPolicy: None` asking
another nameserver is a finding.  Ctrl-C ends the watch and still reports.
"""

from __future__ import annotations

import sys
from typing import Any

from espia.agent.wire import RemoteSchema
from espia.cli.diagnose import add_dns_parser, check_output, write_report
from espia.cli.parser import Parser, add_selection_flags, add_stream_flags
from espia.diagnose.dns import DnsDiagnosis
from espia.errors import EspiaError
from espia.gadget.event import Event
from espia.kubectl.cluster import Cluster

NAME = "diagnose"
# The Service every pod's resolv.conf names under the default dnsPolicy (ClusterFirst).
DNS_SERVICE = "/api/v1/namespaces/kube-system/services/kube-dns"


def add_parser(commands: Any, gadget_flags: Any) -> None:
    about = "watch a subsystem on every node for a while, then say what is wrong"
    parser = commands.add_parser(NAME, help=about, description=about)
    kinds = parser.add_subparsers(dest="diagnosis", metavar="WHAT", parser_class=Parser)
    kinds.required = True
    dns = add_dns_parser(kinds, "own: the cluster DNS service, kube-system/kube-dns")
    add_stream_flags(dns.add_argument_group("events"), timeout=False)
    add_selection_flags(dns)
    # What run_remote_gadget reads of a gadget's flags (the timeout is the duration).
    dns.set_defaults(category="trace", gadget="dns")
    gadget_flags(dns)


def cluster_resolvers(cluster: Cluster) -> tuple[str, ...]:
    """The addresses of the cluster's DNS service; none if it has none (then no client is
    told it asks another resolver)."""
    service = cluster.request("read the cluster DNS service", "GET", DNS_SERVICE, missing_ok=True)
    spec = (service or {}).get("spec") or {}
    addresses = spec.get("clusterIPs") or [spec.get("clusterIP")]
    return tuple(a for a in addresses if isinstance(a, str) and a and a != "None")


class _Feed:
    """The merge's sink: each node's batches go to one diagnosis (the merge serializes)."""

    def __init__(self, schema: RemoteSchema, resolvers: tuple[str, ...]) -> None:
        self.diagnosis = DnsDiagnosis(schema, resolvers, cluster=True)

    def begin(self) -> None:
        pass

    def write(self, events: list[Event]) -> None:
        self.diagnosis.add(events)

    def end(self) -> None:
        pass


def run(args: Any, cluster: Cluster, stopper: Any) -> int:
    from espia.kubectl.gadget import NodeRun, run_remote_gadget

    check_output(args)
    resolvers = tuple(args.resolver) or cluster_resolvers(cluster)
    if not resolvers:
        sys.stderr.write(
            "espia: warning: the cluster has no kube-system/kube-dns service: no client is "
            "checked against a resolver (--resolver ADDR names one)\n"
        )
    args.timeout = args.duration
    feeds: list[_Feed] = []

    def feed(schema: RemoteSchema) -> _Feed:
        feeds.append(_Feed(schema, resolvers))
        return feeds[0]

    nodes: list[NodeRun] = []
    sys.stderr.write(f"watching DNS for {args.duration:g} s (Ctrl-C: report now)\n")
    sys.stderr.flush()
    code = run_remote_gadget(args, cluster, stopper, sink=feed, report=nodes)
    if not feeds:
        raise EspiaError("diagnose dns: no node's stream opened")
    report = feeds[0].diagnosis.report(args.duration, sum(n.lost for n in nodes), args.slow)
    write_report(report, args.output)
    return code
