"""The agent's side of `kubectl espia run IMAGE`: gadget images the client ships to the node.

The nodes may not reach the registry the user pulled from, so the client
sends the image itself (manifest, config, layers) from its own store.  The
agent keeps it in its own store: ``/var/lib/espia/images`` in its pod, an
emptyDir volume (the pod's, removed with it by `kubectl espia undeploy`;
``$ESPIA_IMAGE_STORE`` elsewhere).  An upload is bounded by gRPC's message
size (4 MiB: a gadget image is tens of KiB).

An upload is checked before anything is stored, as a pull is: the
manifest's media types, every blob's size and digest, and, unless the
client asked otherwise (`--verify-image=false`), its cosign signature with
the public key the client sends; an image without one is refused.  A first
call carries no blobs: the agent answers which ones its store lacks (none
when the node already has the image), and only those travel.  The
signature is checked on every call, with that call's key.

A run then names the image and its manifest digest: the agent opens the
image of its store only if its tag still points at that digest, and every
blob is checked against its digest again as it is read.
"""

from __future__ import annotations

import json
import threading
from contextlib import ExitStack
from typing import Any

from espia.agent._proto import agent_pb2 as pb
from espia.errors import EspiaError, ImageError, UsageError
from espia.gadget.spec import GadgetSpec
from espia.images.store import Reference, Store, check_manifest, digest_of


def _public_key(pem: bytes, where: str) -> Any:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    try:
        key = serialization.load_pem_public_key(pem)
    except ValueError as exc:
        raise UsageError(f"{where}: the key sent is not a PEM public key ({exc})") from None
    if not isinstance(key, ec.EllipticCurvePublicKey):
        raise UsageError(f"{where}: the key sent is not an ECDSA public key")
    return key


class AgentImages:
    """The node's image store, as the agent service uses it."""

    def __init__(self, node: str, store: Store | None = None) -> None:
        self.node = node
        self.store = store or Store()
        # The private folders of running images' objects, removed when their run ends.
        self._open: dict[int, ExitStack] = {}
        self._lock = threading.Lock()

    # --- PutImage --------------------------------------------------------------

    def put(self, upload: pb.ImageUpload) -> pb.ImageReply:
        try:
            return self._put(upload)
        except EspiaError as exc:
            return pb.ImageReply(error=f"node {self.node}: {exc}", exit_code=exc.exit_code)

    def _put(self, upload: pb.ImageUpload) -> pb.ImageReply:
        ref = Reference.parse(upload.reference)
        where = f"image {ref}"
        raw = bytes(upload.manifest)
        digest = digest_of(raw)
        try:
            manifest = check_manifest(json.loads(raw), where)
        except ValueError:
            raise ImageError(f"{where}: its manifest is not JSON") from None
        if upload.verify:
            self._verify(upload, ref, digest, where)
        sent = {blob.digest: bytes(blob.data) for blob in upload.blobs}
        blobs: dict[str, bytes] = {}
        missing = []
        for descriptor in (manifest["config"], *manifest["layers"]):
            wanted = descriptor["digest"]
            if wanted in sent:
                blobs[wanted] = sent[wanted]
                continue
            try:  # what the node already has (read back through its digest)
                blobs[wanted] = self.store.read_blob(wanted, where)
            except ImageError:
                missing.append(wanted)
        if missing:
            return pb.ImageReply(missing=missing)
        self.store.add(ref, raw, blobs)  # every blob checked before the tag is written
        return pb.ImageReply(digest=digest, received=sum(len(d) for d in sent.values()))

    @staticmethod
    def _verify(upload: pb.ImageUpload, ref: Reference, digest: str, where: str) -> None:
        from espia.images.signing import verify

        if not upload.public_key:
            raise UsageError(f"{where}: checking its signature needs the client's public key")
        if not upload.signature_manifest:
            raise ImageError(
                f"{where}: it is not signed (no signature in the client's store); "
                "--verify-image=false runs it unverified"
            )
        key = _public_key(bytes(upload.public_key), where)
        blobs = {blob.digest: bytes(blob.data) for blob in upload.signature_blobs}

        def blob(wanted: object) -> bytes:
            data = blobs.get(str(wanted))
            if data is None or digest_of(data) != wanted:
                raise ImageError(f"{where}: its signature's blob {wanted} is missing or corrupt")
            return data

        try:
            signature = json.loads(bytes(upload.signature_manifest))
        except ValueError:
            raise ImageError(f"{where}: its signature manifest is not JSON") from None
        verify(signature, blob, ref.repository, digest, key, where)

    # --- ListImages ------------------------------------------------------------

    def list(self, request: pb.ListImagesRequest) -> pb.ListImagesReply:
        reply = pb.ListImagesReply(node=self.node)
        try:
            if request.reference:
                ref = Reference.parse(request.reference)
                reply.images.append(self._inspect(ref))
            else:
                for name, descriptor in sorted(self.store.tags().items()):
                    reply.images.append(
                        pb.StoredImage(
                            reference=name,
                            digest=str(descriptor.get("digest", "")),
                            size=int(descriptor.get("size") or 0),
                        )
                    )
        except EspiaError as exc:
            reply.error = str(exc)
        return reply

    def _inspect(self, ref: Reference) -> pb.StoredImage:
        if not self.store.has(ref):
            raise ImageError(f"image {ref}: not on this node (`kubectl espia run` ships it)")
        digest, manifest, raw = self.store.manifest(ref)
        config = self.store.read_blob(manifest["config"]["digest"], f"image {ref}")
        return pb.StoredImage(
            reference=str(ref),
            digest=digest,
            size=len(raw),
            manifest=raw.decode(),
            config=config.decode(errors="replace"),
        )

    # --- Run -------------------------------------------------------------------

    def open(self, request: pb.RunRequest, owner: object) -> GadgetSpec:
        """The image a run names, as a gadget to run; its files live until `release(owner)`."""
        from espia.images.gadget import open_image

        ref = Reference.parse(request.image)
        digest, _, _ = self.store.manifest(ref)
        if digest != request.image_digest:
            raise ImageError(
                f"image {ref}: the node's store has {digest}, not {request.image_digest} "
                "(another client tagged it meanwhile): run again"
            )
        stack = ExitStack()
        try:
            spec = open_image(ref, self.store, stack)
        except BaseException:
            stack.close()
            raise
        with self._lock:
            self._open[id(owner)] = stack
        return spec

    def release(self, owner: object) -> None:
        with self._lock:
            stack = self._open.pop(id(owner), None)
        if stack is not None:
            stack.close()
