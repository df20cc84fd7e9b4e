"""`kubectl espia image list|inspect`, and shipping an image to the nodes' agents.

Each node's agent keeps its own image store (espia.agent.images); these
commands ask every selected node what its store holds, and `ship` is how
`kubectl espia run IMAGE` puts an image of the client's store there:

    PutImage(manifest, signature, key)        -> the blobs the node lacks
    PutImage(... + those blobs)               -> stored, digests and signature checked

A node that already has the image gets nothing but its manifest and
signature (checked again, with this run's key).
"""

from __future__ import annotations

import json
import os
import sys
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import grpc

from espia.agent._proto import agent_pb2 as pb
from espia.agent._proto import agent_pb2_grpc as pb_grpc
from espia.cli.image import KEY_ENV
from espia.errors import EspiaError, ImageError, UsageError
from espia.images.store import Reference, Store
from espia.kubectl.cluster import AgentPod, Cluster
from espia.output._text import escape_control

NAME = "image"
# Seconds an agent may take to store or list images.
CALL_TIMEOUT = 60.0
# gRPC's default bound on one message, which an upload must fit (with room for its fields).
MAX_UPLOAD = (4 << 20) - (64 << 10)


def add_parser(commands: Any, gadget_flags: Any) -> None:
    about = "the gadget images each node's agent has (`kubectl espia run` puts them there)"
    image = commands.add_parser(NAME, help=about, description=about)
    verbs = image.add_subparsers(dest="verb", metavar="VERB")
    verbs.required = True
    listing = verbs.add_parser("list", help="the images in each node's store")
    inspect = verbs.add_parser("inspect", help="an image's manifest and config, per node")
    inspect.add_argument("image", metavar="NAME[:TAG]")
    for verb in (listing, inspect):
        gadget_flags(verb)


@dataclass(frozen=True)
class Shipment:
    """What `ship` sends: the stored image, and how the agents check it."""

    ref: Reference
    digest: str
    manifest: bytes
    blobs: dict[str, bytes]
    verify: bool
    public_key: bytes = b""
    signature: tuple[bytes, dict[str, bytes]] | None = None


def shipment(ref: Reference, store: Store, verify: bool, key: str | None) -> Shipment:
    """The image `ref` of the client's store, its signature and the key to check it with
    (`key`: a public key file, else $ESPIA_IMAGE_KEY); every blob read is checked."""
    from espia.images.signatures import stored_signature
    from espia.images.signing import load_public

    digest, raw, blobs = store.blobs_of(ref)
    if len(raw) + sum(map(len, blobs.values())) > MAX_UPLOAD:
        raise ImageError(f"image {ref}: larger than the {MAX_UPLOAD} bytes an upload may take")
    if not verify:
        return Shipment(ref, digest, raw, blobs, False)
    path = key or os.environ.get(KEY_ENV)
    if not path:
        raise UsageError(
            f"run {ref}: the agents check its signature with a public key (--key FILE or "
            f"${KEY_ENV}); --verify-image=false skips the check"
        )
    load_public(Path(path))  # a file that is no key is said here, once
    return Shipment(
        ref,
        digest,
        raw,
        blobs,
        True,
        Path(path).read_bytes(),
        stored_signature(store, ref, digest),
    )


def _blobs(blobs: dict[str, bytes]) -> list[pb.Blob]:
    return [pb.Blob(digest=digest, data=data) for digest, data in blobs.items()]


def _call(address: str, node: str, method: str, message: Any) -> Any:
    with grpc.insecure_channel(address) as channel:
        try:
            return getattr(pb_grpc.AgentStub(channel), method)(message, timeout=CALL_TIMEOUT)
        except grpc.RpcError as exc:
            code = exc.code().name if isinstance(exc, grpc.Call) else "error"
            if code == "UNIMPLEMENTED":
                raise EspiaError(
                    f"node {node}: its agent is older than this client and has no image store; "
                    "deploy this version (`kubectl espia deploy`)"
                ) from None
            raise EspiaError(f"node {node}: agent unreachable ({code})") from None


def _ship_one(cluster: Cluster, pod: AgentPod, item: Shipment) -> str:
    """Stores `item` on the node of `pod`; what was sent, in words."""
    upload = pb.ImageUpload(
        reference=str(item.ref),
        manifest=item.manifest,
        verify=item.verify,
        public_key=item.public_key,
    )
    if item.signature is not None:
        upload.signature_manifest = item.signature[0]
        upload.signature_blobs.extend(_blobs(item.signature[1]))
    with cluster.forward(pod) as address:
        reply = _call(address, pod.node, "PutImage", upload)
        if reply.missing and not reply.error:
            upload.blobs.extend(_blobs({d: item.blobs[d] for d in reply.missing}))
            reply = _call(address, pod.node, "PutImage", upload)
    if reply.error or reply.missing:
        error = UsageError if reply.exit_code == 2 else EspiaError
        raise error(reply.error or f"node {pod.node}: the agent still lacks {reply.missing}")
    if reply.digest != item.digest:
        raise ImageError(f"node {pod.node}: stored {reply.digest}, not {item.digest}")
    if not reply.received:
        return "already there"
    return f"uploaded ({reply.received} bytes)"


def ship(cluster: Cluster, pods: list[AgentPod], item: Shipment, err: Any = None) -> None:
    """Stores `item` on every node of `pods` at once, saying so on `err` (stderr); a node's
    refusal is an error (the same refusal on every node is said once, for all of them)."""
    err = err or sys.stderr
    with ThreadPoolExecutor(max_workers=max(1, min(len(pods), 8))) as pool:
        futures = {pod.node: pool.submit(_ship_one, cluster, pod, item) for pod in pods}
    failures: dict[str, EspiaError] = {}
    for node, future in futures.items():
        try:
            done = future.result()
        except EspiaError as exc:
            failures[node] = exc
            continue
        err.write(f"espia: node {node}: image {item.ref} {item.digest[:19]} {done}\n")
    if not failures:
        return
    causes = {str(exc).removeprefix(f"node {node}: ") for node, exc in failures.items()}
    first = next(iter(failures.values()))
    if len(causes) == 1:
        nodes = ", ".join(sorted(failures))
        raise type(first)(f"{causes.pop()} (node{'s' if len(failures) > 1 else ''} {nodes})")
    raise type(first)("; ".join(str(exc) for exc in failures.values()))


def run(args: Any, cluster: Cluster) -> int:
    from espia.kubectl.gadget import pick_nodes

    nodes = pick_nodes(cluster, args.node)
    wanted = str(Reference.parse(args.image)) if args.verb == "inspect" else ""
    request = pb.ListImagesRequest(reference=wanted)
    code = 0
    found = []
    for node in nodes:
        if node.pod is None:
            sys.stderr.write(f"espia: warning: node {node.node}: no ready agent\n")
            code = 1
            continue
        with cluster.forward(node.pod) as address:
            reply = _call(address, node.node, "ListImages", request)
        if reply.error:
            sys.stderr.write(f"espia: node {node.node}: {reply.error}\n")
            code = 1
            continue
        found += [(node.node, image) for image in reply.images]
    if args.verb == "list":
        header = ("K8S.NODE", "NAME", "DIGEST", "SIZE")
        rows = [header]
        rows += [
            (node, escape_control(i.reference), i.digest[:19], str(i.size)) for node, i in found
        ]
        widths = [max(len(row[c]) for row in rows) for c in range(len(header))]
        for row in rows:
            print(" ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip())
        return code
    for name, image in found:
        body = {
            "node": name,
            "name": image.reference,
            "digest": image.digest,
            "config": json.loads(image.config),
            "manifest": json.loads(image.manifest),
        }
        print(json.dumps(body, indent=2))
    return code
