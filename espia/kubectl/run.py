"""`kubectl espia run IMAGE [flags]`: a gadget image of the client's store on every selected node.

The nodes may not reach the registry the image came from, so the client
ships it (espia.kubectl.image.ship): each node's agent stores it in its own
store, checking every digest and, unless `--verify-image=false`, its
signature with the public key of `--key` (the signature `espia image sign`
kept in the client's store travels with it).  A node that already has the
image is sent its manifest and signature only.  Then the gadget runs on
every node as any cluster gadget does, by the image's name and digest, with
the same flags, output and per-node summary; its parameters go as
`--param NAME=VALUE` (checked by the agents, a bad one one line).
"""

from __future__ import annotations

import argparse
import sys
from typing import Any, TextIO

from espia.cli.image import add_store_flag, add_verify_flags
from espia.cli.params import add_param_option, param_values
from espia.cli.parser import add_gadget_flags
from espia.images.store import Reference, Store
from espia.kubectl.cluster import Cluster

NAME = "run"
ABOUT = "run a gadget image of this machine's store on every node"


def add_parser(commands: Any, gadget_flags: Any) -> None:
    run: argparse.ArgumentParser = commands.add_parser(
        NAME,
        help=ABOUT,
        description=f"{ABOUT}: each node's agent is sent the image and stores it, its digests "
        "and signature checked (a node that has it is sent nothing more); parameters as "
        "--param NAME=VALUE",
        add_help=False,
        conflict_handler="resolve",
    )
    run.add_argument("image", metavar="NAME[:TAG]", help="an image of the store (`espia image`)")
    add_gadget_flags(run)
    # The plain help (a catalog gadget's lists its fields; an image's are in the image).
    run.add_argument("-h", "--help", action="help", help="show this help")
    images = run.add_argument_group("image")
    add_store_flag(images)  # type: ignore[arg-type]
    add_verify_flags(images)  # type: ignore[arg-type]
    add_param_option(run)
    gadget_flags(run)


def run(args: Any, cluster: Cluster, stopper: Any, out: TextIO = sys.stdout) -> int:
    from espia.kubectl.gadget import pick_nodes, run_remote_gadget
    from espia.kubectl.image import ship, shipment

    ref = Reference.parse(args.image)
    item = shipment(ref, Store(args.store), args.verify_image, args.key)
    ready = [node.pod for node in pick_nodes(cluster, args.node) if node.pod is not None]
    if ready:  # none: run_remote_gadget says so, for each node
        ship(cluster, ready, item)
    args.category, args.gadget = NAME, ref.name
    return run_remote_gadget(
        args, cluster, stopper, out, params=param_values(args), image=(str(ref), item.digest)
    )
