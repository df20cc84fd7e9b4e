"""Signatures kept in the local store, beside the images they sign.

`espia image sign NAME` keeps the signature image it makes in the store,
where a registry would keep it: tagged ``sha256-<hex>.sig`` (cosign's tag)
in the image's repository.  `kubectl espia run NAME` ships it with the
image, so that the nodes' agents check it without reaching a registry.
A signature image is not a gadget image: it is read here, never run.
"""

from __future__ import annotations

import json

from espia.errors import ImageError
from espia.images.signing import signature_tag
from espia.images.store import Reference, Store, check_digest, digest_of


def signature_ref(ref: Reference, digest: str) -> Reference:
    return Reference(ref.repository, signature_tag(digest))


def keep_signature(
    store: Store, ref: Reference, digest: str, raw: bytes, blobs: dict[str, bytes]
) -> None:
    """Stores the signature image (`raw`, `blobs`) of manifest `digest` of `ref`."""
    with store.locked():
        for blob_digest, data in blobs.items():
            store.put_blob(data, blob_digest)
        store.put_blob(raw)
    store.tag(signature_ref(ref, digest), digest_of(raw), len(raw))


def stored_signature(
    store: Store, ref: Reference, digest: str
) -> tuple[bytes, dict[str, bytes]] | None:
    """(manifest, {digest: blob}) of the stored signature of `digest`, every blob checked
    against its digest; None if the store has none."""
    sig = signature_ref(ref, digest)
    descriptor = store.tags().get(str(sig))
    if descriptor is None:
        return None
    where = f"signature {sig}"
    raw = store.read_blob(check_digest(descriptor.get("digest"), where), where)
    try:
        manifest = json.loads(raw)
        descriptors = [manifest["config"], *manifest["layers"]]
        wanted = [check_digest(d["digest"], where) for d in descriptors]
    except (ValueError, KeyError, TypeError):
        raise ImageError(f"{where}: not a signature image") from None
    return raw, {d: store.read_blob(d, where) for d in wanted}
