"""`kubectl espia list-containers`: the containers every selected node's agent sees.

The local door's listing (the list-containers gadget) run on each node and
merged, with K8S.NODE: the same columns, -o modes and --watch.  Scope as for
every cluster gadget (the kubeconfig context's namespace unless -n, -A, -p,
-c or -l say otherwise); pod sandboxes are left out, as locally.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any, TextIO

from espia.cli.parser import add_listing_flags
from espia.kubectl.cluster import Cluster

NAME = "list-containers"


def add_parser(commands: Any, cluster_flags: Any) -> None:
    listing = commands.add_parser(NAME, help="list the containers of every node")
    add_listing_flags(listing)
    listing.add_argument(
        "-A", "--all-namespaces", action="store_true", help="every pod's containers"
    )
    listing.add_argument("--node", metavar="NAMES", help="only these nodes, a,b")
    # What run_remote_gadget reads of a gadget's flags, as the listing has them.
    listing.set_defaults(
        category="list",
        gadget="containers",
        filter=None,
        timeout=0.0,
        buffer_size=None,
        host=False,
        runtimes=None,
        runtime_socket=None,
        containerd_namespace="k8s.io",
    )
    cluster_flags(listing)


def run(args: argparse.Namespace, cluster: Cluster, stopper: Any, out: TextIO = sys.stdout) -> int:
    from espia.kubectl.gadget import run_remote_gadget

    return run_remote_gadget(
        args,
        cluster,
        stopper,
        out,
        params={"watch": args.watch},
        first_columns=("event",) if args.watch else (),
    )
