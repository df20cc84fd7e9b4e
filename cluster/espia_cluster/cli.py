"""The command line: ``python3 -m espia_cluster build|up|down|status|import IMAGE.tar``."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from espia_cluster import build, cluster, images, layout
from espia_cluster.proc import ClusterError, say


def main() -> None:
    parser = argparse.ArgumentParser(
        prog="espia-cluster", description="A two-node Kubernetes on this machine, for espia."
    )
    commands = parser.add_subparsers(dest="command", required=True)
    built = commands.add_parser("build", help="build the binaries and images (skipped if current)")
    built.add_argument("--force", action="store_true", help="rebuild even if current")
    commands.add_parser("up", help="build, start (or reuse) the cluster, wait for Ready nodes")
    commands.add_parser("down", help="stop the cluster and remove everything it made")
    commands.add_parser("status", help="the state of each part; exit 0 only if all are healthy")
    imported = commands.add_parser("import", help="load an image tar into every node")
    imported.add_argument("archive", type=Path, help="a docker-archive or OCI-archive tar")
    args = parser.parse_args()
    if os.geteuid() != 0:
        say("run as root: the cluster makes interfaces, namespaces, cgroups and mounts")
        sys.exit(1)
    try:
        if args.command == "build":
            build.build(force=args.force)
            images.build()
        elif args.command == "up":
            build.build()
            images.build()
            cluster.up()
            print(layout.ADMIN_KUBECONFIG)
        elif args.command == "down":
            cluster.down()
        elif args.command == "status":
            sys.exit(0 if cluster.status(verbose=True) else 1)
        elif args.command == "import":
            cluster.import_image(args.archive)
    except ClusterError as exc:
        say(f"error: {exc}")
        sys.exit(1)
    except KeyboardInterrupt:
        say("interrupted (`make cluster-down` removes what was started)")
        sys.exit(130)
