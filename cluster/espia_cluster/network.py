"""The cluster's network: an interface of its own (a bridge without ports) for the control
plane and node1, a network namespace and a veth pair for node2, routes between them, and
one firewall rule.

The pods' bridges are made by the CNI bridge plugin (without masquerading,
so it adds no iptables rules); their subnets are routed between the nodes.
node2's namespace gets routes to the cluster's ranges only, no default route,
and the host rejects forwarded pod traffic to anything outside 10.0.0.0/8:
nothing the cluster sends leaves this machine.
"""

from __future__ import annotations

import re
from pathlib import Path

from espia_cluster import layout
from espia_cluster.proc import run

_SYSCTLS = ("net/ipv4/ip_forward", "net/bridge/bridge-nf-call-iptables")


def _link_exists(name: str, netns: str | None = None) -> bool:
    prefix = ["ip", "-n", netns] if netns else ["ip"]
    return run([*prefix, "link", "show", name], check=False).returncode == 0


def _sysctl(wrap: list[str], names: tuple[str, ...] = _SYSCTLS) -> None:
    for name in names:
        run([*wrap, "sysctl", "-q", "-w", f"{name.replace('/', '.')}=1"])


def _firewall(action: str) -> None:
    rule = [
        "FORWARD",
        "-s",
        layout.POD_CIDR,
        "!",
        "-d",
        "10.0.0.0/8",
        "-m",
        "comment",
        "--comment",
        layout.FIREWALL_COMMENT,
        "-j",
        "REJECT",
    ]
    present = run(["iptables", "-w", "-C", *rule], check=False).returncode == 0
    if action == "-I" and not present:
        run(["iptables", "-w", "-I", *rule])
    elif action == "-D" and present:
        run(["iptables", "-w", "-D", *rule])


def up() -> None:
    """Make what is missing (a second call changes nothing)."""
    if not _link_exists(layout.DUMMY):
        # A bridge without ports: this kernel has no dummy interfaces.
        run(["ip", "link", "add", layout.DUMMY, "type", "bridge"])
    run(["ip", "addr", "replace", f"{layout.CONTROL_PLANE_IP}/32", "dev", layout.DUMMY])
    run(["ip", "link", "set", layout.DUMMY, "up"])
    _sysctl([])
    _firewall("-I")
    for node in layout.NODES:
        if node.netns is None or node.host_veth is None:
            continue
        if not (layout.NETNS_DIR / node.netns).exists():
            run(["ip", "netns", "add", node.netns])
        if not _link_exists(node.host_veth):
            run(
                [
                    "ip",
                    "link",
                    "add",
                    node.host_veth,
                    "type",
                    "veth",
                    "peer",
                    "name",
                    "eth0",
                    "netns",
                    node.netns,
                ]
            )
        run(["ip", "addr", "replace", f"{node.host_ip}/24", "dev", node.host_veth])
        run(["ip", "link", "set", node.host_veth, "up"])
        inside = ["ip", "-n", node.netns]
        run([*inside, "addr", "replace", f"{node.ip}/24", "dev", "eth0"])
        run([*inside, "link", "set", "lo", "up"])
        run([*inside, "link", "set", "eth0", "up"])
        for cidr in layout.CLUSTER_CIDRS:
            run([*inside, "route", "replace", cidr, "via", str(node.host_ip)])
        run(["ip", "route", "replace", node.pod_subnet, "via", node.ip])
        _sysctl(node.wrap)


def down() -> None:
    """Remove all of it, whatever part of it exists."""
    for node in layout.NODES:
        if node.netns is not None:
            run(["ip", "route", "del", node.pod_subnet], check=False)
            if (layout.NETNS_DIR / node.netns).exists():
                run(["ip", "netns", "del", node.netns])
        if node.host_veth and _link_exists(node.host_veth):
            run(["ip", "link", "del", node.host_veth])
        if node.netns is None and _link_exists(node.bridge):
            run(["ip", "link", "del", node.bridge])
    if _link_exists(layout.DUMMY):
        run(["ip", "link", "del", layout.DUMMY])
    _firewall("-D")
    _kube_chains()


def _kube_chains() -> None:
    """Remove the KUBE-* chains kube-proxy and the kubelet made in the host's tables.

    Only ours: nothing else on this machine uses Kubernetes' chain names (the
    other runtimes run without iptables or name their chains otherwise).
    """
    for tool in ("iptables", "ip6tables"):
        saved = run([f"{tool}-save"], check=False).stdout
        table = ""
        rules: list[tuple[str, list[str]]] = []
        chains: list[tuple[str, str]] = []
        for line in saved.splitlines():
            if line.startswith("*"):
                table = line[1:]
            elif line.startswith(":KUBE-"):
                chains.append((table, line[1:].split()[0]))
            elif line.startswith("-A ") and "KUBE-" in line and not line.startswith("-A KUBE-"):
                rules.append((table, line.split()[1:]))
        for table, rule in rules:
            run([tool, "-w", "-t", table, "-D", *_unquote(rule)], check=False)
        for table, chain in chains:
            run([tool, "-w", "-t", table, "-F", chain], check=False)
        for table, chain in chains:
            run([tool, "-w", "-t", table, "-X", chain], check=False)


def _unquote(words: list[str]) -> list[str]:
    """iptables-save quotes comments: rejoin the words of each quoted argument."""
    joined, out = " ".join(words), []
    for match in re.finditer(r'"((?:[^"\\]|\\.)*)"|(\S+)', joined):
        out.append(match.group(1) if match.group(1) is not None else match.group(2))
    return out


def leftovers() -> list[str]:
    """What of the network still exists (empty after `down`)."""
    found = [f"interface {name}" for name in (layout.DUMMY,) if _link_exists(name)]
    for node in layout.NODES:
        if node.netns and Path(layout.NETNS_DIR / node.netns).exists():
            found.append(f"network namespace {node.netns}")
        for name in (node.host_veth, node.bridge if node.netns is None else None):
            if name and _link_exists(name):
                found.append(f"interface {name}")
    for tool in ("iptables", "ip6tables"):
        saved = run([f"{tool}-save"], check=False).stdout
        found += [
            f"{tool}: {line}"
            for line in saved.splitlines()
            if "KUBE-" in line or layout.FIREWALL_COMMENT in line
        ]
    return found
