"""Image signatures in cosign's format, made and checked with the `cryptography` package.

- Keys: ECDSA P-256.  The public key is a PEM ``PUBLIC KEY`` (SubjectPublicKeyInfo),
  the file `cosign verify --key` reads.  The private key is a PEM PKCS#8 key,
  encrypted with the password in ``$COSIGN_PASSWORD`` (possibly empty); cosign
  reads it after `cosign import-key-pair --key FILE` (its own private-key file
  is scrypt and secretbox, which espia does not write).
- Payload: cosign's "simple signing" JSON, naming the repository and the
  manifest digest signed; the signature is ECDSA over SHA-256 of the payload's
  exact bytes, base64 of its DER form.
- Where: the image tagged ``sha256-<hex>.sig`` in the image's repository, one
  layer (the payload, ``application/vnd.dev.cosign.simplesigning.v1+json``)
  whose annotation ``dev.cosignproject.cosign/signature`` holds the signature.
"""

from __future__ import annotations

import base64
import json
import os
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec

from espia.errors import ImageError, UsageError

PAYLOAD_TYPE = "application/vnd.dev.cosign.simplesigning.v1+json"
SIGNATURE_ANNOTATION = "dev.cosignproject.cosign/signature"
CONFIG_TYPE = "application/vnd.oci.image.config.v1+json"
PASSWORD_ENV = "COSIGN_PASSWORD"


def signature_tag(digest: str) -> str:
    """cosign's tag for the signature of manifest `digest`: sha256-<hex>.sig."""
    return digest.replace(":", "-") + ".sig"


def payload(repository: str, digest: str) -> bytes:
    """The simple-signing payload for manifest `digest` of `repository`."""
    body = {
        "critical": {
            "identity": {"docker-reference": repository},
            "image": {"docker-manifest-digest": digest},
            "type": "cosign container image signature",
        },
        "optional": None,
    }
    return json.dumps(body, separators=(",", ":")).encode()


def _password() -> bytes:
    return os.environ.get(PASSWORD_ENV, "").encode()


def keygen(prefix: Path) -> tuple[Path, Path]:
    """Writes PREFIX.key (private, mode 0600) and PREFIX.pub; refuses to overwrite."""
    private, public = prefix.with_name(prefix.name + ".key"), prefix.with_name(prefix.name + ".pub")
    for path in (private, public):
        if path.exists():
            raise UsageError(f"keygen: {path} exists; remove it or choose another name")
    key = ec.generate_private_key(ec.SECP256R1())
    password = _password()
    encryption = (
        serialization.BestAvailableEncryption(password)
        if password
        else serialization.NoEncryption()
    )
    pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, encryption
    )
    try:
        fd = os.open(private, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as out:
            out.write(pem)
        public.write_bytes(
            key.public_key().public_bytes(
                serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
            )
        )
    except OSError as exc:
        raise ImageError(f"keygen {prefix}: {exc.strerror or exc}") from exc
    return private, public


def load_private(path: Path) -> ec.EllipticCurvePrivateKey:
    try:
        password = _password() or None
        key = serialization.load_pem_private_key(path.read_bytes(), password)
    except OSError as exc:
        raise UsageError(f"read key {path}: {exc.strerror or exc}") from exc
    except (ValueError, TypeError) as exc:
        raise UsageError(
            f"read key {path}: not a PEM private key, or a wrong ${PASSWORD_ENV} ({exc})"
        ) from exc
    if not isinstance(key, ec.EllipticCurvePrivateKey):
        raise UsageError(f"read key {path}: not an ECDSA key")
    return key


def load_public(path: Path) -> ec.EllipticCurvePublicKey:
    try:
        key = serialization.load_pem_public_key(path.read_bytes())
    except OSError as exc:
        raise UsageError(f"read key {path}: {exc.strerror or exc}") from exc
    except ValueError as exc:
        raise UsageError(f"read key {path}: not a PEM public key ({exc})") from exc
    if not isinstance(key, ec.EllipticCurvePublicKey):
        raise UsageError(f"read key {path}: not an ECDSA public key")
    return key


def sign(data: bytes, key: ec.EllipticCurvePrivateKey) -> str:
    return base64.b64encode(key.sign(data, ec.ECDSA(hashes.SHA256()))).decode()


def signature_image(
    repository: str, digest: str, key: ec.EllipticCurvePrivateKey
) -> tuple[bytes, dict[str, bytes]]:
    """(manifest bytes, {digest: blob}) of the signature image of `digest`."""
    from espia.images import MANIFEST_TYPE
    from espia.images.store import digest_of

    body = payload(repository, digest)
    config = json.dumps(
        {
            "architecture": "",
            "config": {},
            "created": "0001-01-01T00:00:00Z",
            "history": [{"created": "0001-01-01T00:00:00Z"}],
            "os": "",
            "rootfs": {"type": "layers", "diff_ids": [digest_of(body)]},
        },
        separators=(",", ":"),
    ).encode()
    manifest = {
        "schemaVersion": 2,
        "mediaType": MANIFEST_TYPE,
        "config": {"mediaType": CONFIG_TYPE, "digest": digest_of(config), "size": len(config)},
        "layers": [
            {
                "mediaType": PAYLOAD_TYPE,
                "digest": digest_of(body),
                "size": len(body),
                "annotations": {SIGNATURE_ANNOTATION: sign(body, key)},
            }
        ],
    }
    return json.dumps(manifest).encode(), {digest_of(body): body, digest_of(config): config}


def verify(
    manifest: dict[str, Any],
    blob: Any,
    repository: str,
    digest: str,
    key: ec.EllipticCurvePublicKey,
    where: str,
) -> None:
    """Checks that the signature image `manifest` signs `digest` of `repository` with
    `key`; `blob(digest)` fetches a blob.  An ImageError says why not."""
    layers = manifest.get("layers") if isinstance(manifest, dict) else None
    if not isinstance(layers, list):
        raise ImageError(f"{where}: its signature is not a cosign signature image")
    for layer in layers:
        if not isinstance(layer, dict) or layer.get("mediaType") != PAYLOAD_TYPE:
            continue
        signature = (layer.get("annotations") or {}).get(SIGNATURE_ANNOTATION)
        if not isinstance(signature, str):
            continue
        body = blob(layer.get("digest"))
        try:
            key.verify(base64.b64decode(signature, validate=True), body, ec.ECDSA(hashes.SHA256()))
            signed = json.loads(body)["critical"]
        except (InvalidSignature, ValueError, KeyError, TypeError):
            continue
        if signed.get("image", {}).get("docker-manifest-digest") != digest:
            continue
        if signed.get("identity", {}).get("docker-reference") != repository:
            continue
        return
    raise ImageError(f"{where}: bad signature: none of its signatures is by this key for {digest}")
