"""`kubectl espia` (the executable `kubectl-espia`): the cluster door.

    kubectl espia deploy [--image IMG] [--node-selector k=v] [--namespace NS] [--wait]
                         [--timeout S] [--print-only]
    kubectl espia undeploy [--wait]
    kubectl espia version
    kubectl espia list-containers [-o MODE] [-w] [-n/-A/-p/-c/-l] [--node NAME[,..]]
    kubectl espia <category> <gadget> [the local door's flags] [--node NAME[,..]]
    kubectl espia run NAME[:TAG] [--key PUB | --verify-image=false] [--param N=V] [flags]
    kubectl espia image list|inspect NAME[:TAG] [--node NAME[,..]]
    kubectl espia diagnose dns [--duration S] [-o json] [-n/-A/-p/-c/-l] [--node NAME[,..]]

--kubeconfig and --context work as kubectl's (KUBECONFIG, then ~/.kube/config).
Exit codes are the local door's: 0 done, 1 runtime error, 2 usage error.
"""

from __future__ import annotations

import argparse
import sys

from espia._version import __version__
from espia.cli.display import add_display_flags
from espia.cli.main import _Stopper, guarded
from espia.cli.parser import Parser, add_gadget_commands
from espia.kubectl import containers, diagnose, image
from espia.kubectl import run as run_image


def _cluster_flags(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("cluster")
    group.add_argument("--kubeconfig", metavar="PATH", help="kubeconfig file (default: kubectl's)")
    group.add_argument("--context", metavar="NAME", help="kubeconfig context (default: current)")


def _gadget_flags(gadget: argparse.ArgumentParser) -> None:
    add_display_flags(gadget)
    gadget.add_argument("--node", metavar="NAMES", help="only these nodes, a,b")
    _cluster_flags(gadget)


def build_parser(argv: list[str] | None = None) -> Parser:
    parser = Parser(prog="kubectl espia", description="Run espia's gadgets on every node.")
    parser.add_argument("-V", "--version", action="version", version=f"espia v{__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=Parser)
    add_gadget_commands(commands, _gadget_flags, params=True, argv=argv)
    containers.add_parser(commands, _cluster_flags)
    diagnose.add_parser(commands, _gadget_flags)
    run_image.add_parser(commands, _gadget_flags)
    image.add_parser(commands, _gadget_flags)
    deploy = commands.add_parser("deploy", help="install the agent on every node")
    deploy.add_argument("--namespace", default="espia", metavar="NS", help="default espia")
    deploy.add_argument("--image", metavar="IMAGE", help="the agent's image")
    deploy.add_argument(
        "--image-pull-policy", default="IfNotPresent", metavar="POLICY", help="default IfNotPresent"
    )
    deploy.add_argument("--node-selector", metavar="k=v,..", help="only nodes with these labels")
    deploy.add_argument(
        "--runtime-socket",
        metavar="PATH",
        help="containerd's socket on the nodes; $(NODE_NAME) in it is the node's name "
        "(default: each agent asks its node's kubelet)",
    )
    deploy.add_argument(
        "--metrics", metavar="SETS", help="agents also serve these metric sets (dns,tcp) on :9464"
    )
    deploy.add_argument("--wait", action="store_true", help="until every node's agent is ready")
    deploy.add_argument("--timeout", type=float, default=120.0, metavar="S", help="for --wait")
    deploy.add_argument("--print-only", action="store_true", help="print the manifests only")
    _cluster_flags(deploy)
    undeploy = commands.add_parser("undeploy", help="remove everything deploy made")
    undeploy.add_argument("--namespace", default="espia", metavar="NS", help="default espia")
    undeploy.add_argument("--wait", action="store_true", help="until it is all gone")
    undeploy.add_argument("--timeout", type=float, default=120.0, metavar="S", help="for --wait")
    _cluster_flags(undeploy)
    version = commands.add_parser("version", help="the client's and the agent's versions")
    _cluster_flags(version)
    return parser


def _dispatch(args: argparse.Namespace) -> int:
    from espia.kubectl.manifests import (
        DEFAULT_IMAGE,
        DeployOptions,
        parse_node_selector,
        to_yaml,
    )
    from espia.kubectl.manifests import objects as manifest_objects

    if args.command == "deploy":
        options = DeployOptions(
            namespace=args.namespace,
            image=args.image or DEFAULT_IMAGE,
            pull_policy=args.image_pull_policy,
            node_selector=parse_node_selector(args.node_selector),
            runtime_socket=args.runtime_socket or "",
            metrics=args.metrics or "",
        )
        items = manifest_objects(options)
        if args.print_only:
            sys.stdout.write(to_yaml(items))
            return 0
    from espia.kubectl.cluster import Cluster

    def cluster() -> Cluster:
        return Cluster(args.kubeconfig, args.context)

    if args.command == "version":
        from espia.kubectl.deploy import version

        return version(cluster)
    if args.command == "deploy":
        from espia.kubectl.deploy import deploy

        return deploy(cluster(), options, args.wait, args.timeout, sys.stderr)
    if args.command == "undeploy":
        from espia.kubectl.deploy import undeploy

        return undeploy(cluster(), args.namespace, args.wait, args.timeout, sys.stderr)
    if args.command == containers.NAME:
        return containers.run(args, cluster(), _Stopper)
    if args.command == diagnose.NAME:
        return diagnose.run(args, cluster(), _Stopper)
    if args.command == run_image.NAME:
        return run_image.run(args, cluster(), _Stopper)
    if args.command == image.NAME:
        return image.run(args, cluster())
    from espia.kubectl.gadget import run_remote_gadget

    return run_remote_gadget(args, cluster(), _Stopper)


def main(argv: list[str] | None = None) -> int:
    def run() -> int:
        parser = build_parser(argv)
        args = parser.parse_args(argv)
        if args.command is None:
            parser.print_help()
            return 2
        return _dispatch(args)

    return guarded(run)


if __name__ == "__main__":
    sys.exit(main())
