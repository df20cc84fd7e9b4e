"""Push and pull gadget images through an OCI registry, with the oras Python SDK.

oras speaks the distribution protocol (blob uploads, manifests, token and
basic authentication, TLS); espia adds what an untrusted image needs: the
registry is asked once whether it answers (an unreachable one is one line at
once, not oras's retries with back-off), every blob is read bounded and
checked against its digest before the image enters the store, a manifest of
another media type is refused, and a pulled image's cosign signature is
checked before it is stored (espia.images.signing).

Credentials: ``--username`` and the password in ``$ESPIA_REGISTRY_PASSWORD``.
TLS: the system's CAs, or ``--ca-file``; ``--plain-http`` for a registry
without TLS (on loopback, say).
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from espia.errors import ImageError, UsageError
from espia.images import MANIFEST_TYPE
from espia.images.signatures import keep_signature
from espia.images.signing import signature_tag, verify
from espia.images.store import MAX_BLOB, Reference, Store, check_digest, check_manifest, digest_of

PASSWORD_ENV = "ESPIA_REGISTRY_PASSWORD"
CONNECT_TIMEOUT = 5.0


@dataclass(frozen=True)
class RegistryOptions:
    """How to reach a registry."""

    plain_http: bool = False
    ca_file: str | None = None
    username: str | None = None


class _Connection:
    """One registry, through oras, for one reference."""

    def __init__(self, ref: Reference, options: RegistryOptions, verb: str) -> None:
        import oras.provider  # lazily: only the registry commands need it (and requests)
        import requests

        registry = ref.registry
        if registry is None:
            raise UsageError(
                f"{verb} {ref}: the name has no registry (e.g. localhost:5000/{ref.repository}; "
                "`espia image tag` gives an image another name)"
            )
        self.where = f"{verb} {ref}"
        self.ref = ref
        self.requests = requests
        tls: bool | str = options.ca_file or True
        backend = "basic" if options.username else "token"

        class Registry(oras.provider.Registry):  # type: ignore[misc]
            # oras retries every request with a back-off of minutes; an unreachable
            # registry or a refusal must be one line at once instead.
            do_request = oras.provider.Registry.do_request.__wrapped__

        self.oras = Registry(
            hostname=registry, insecure=options.plain_http, tls_verify=tls, auth_backend=backend
        )
        if options.username:
            self.oras.auth.set_basic_auth(options.username, os.environ.get(PASSWORD_ENV, ""))
        self.container = self.oras.get_container(f"{registry}/{ref.path}:{ref.tag}")
        self._ping(registry, options)

    def _ping(self, registry: str, options: RegistryOptions) -> None:
        url = f"{self.oras.prefix}://{registry}/v2/"
        try:
            response = self.oras.session.get(
                url, timeout=CONNECT_TIMEOUT, verify=self.oras._tls_verify
            )
        except self.requests.exceptions.SSLError as exc:
            raise ImageError(f"{self.where}: TLS with {registry} failed ({_reason(exc)})") from None
        except self.requests.exceptions.RequestException as exc:
            raise ImageError(
                f"{self.where}: registry {registry} is unreachable ({_reason(exc)})"
            ) from None
        if response.status_code == 401 and not options.username:
            raise ImageError(
                f"{self.where}: registry {registry} asks for credentials "
                f"(--username, and the password in ${PASSWORD_ENV})"
            )

    def request(self, method: str, call: Callable[[], Any]) -> Any:
        """`call()` (an oras call), its transport errors as ImageErrors."""
        try:
            response = call()
        except self.requests.exceptions.RequestException as exc:
            raise ImageError(f"{self.where}: {method}: {_reason(exc)}") from None
        except ValueError as exc:  # oras: "Cannot respond to request for authentication."
            raise ImageError(f"{self.where}: {method}: {exc}") from None
        return response

    def _check(self, response: Any, what: str) -> Any:
        if response.status_code in (401, 403):
            raise ImageError(f"{self.where}: {what}: the registry refused the credentials")
        if response.status_code == 404:
            raise ImageError(f"{self.where}: {what}: not found in the registry")
        if response.status_code >= 300:
            raise ImageError(f"{self.where}: {what}: the registry answered {response.status_code}")
        return response

    # --- reading -----------------------------------------------------------

    def manifest_bytes(self, tag: str) -> bytes:
        url = f"{self.oras.prefix}://{self.container.manifest_url(tag)}"
        response = self.request(
            "get manifest",
            lambda: self.oras.do_request(url, "GET", headers={"Accept": MANIFEST_TYPE}),
        )
        if response.status_code == 404:
            raise ImageError(f"{self.where}: tag {tag} does not exist in the registry")
        self._check(response, f"manifest {tag}")
        data = response.content
        if len(data) > MAX_BLOB:
            raise ImageError(f"{self.where}: manifest {tag} is too large")
        return bytes(data)

    def blob(self, digest: object) -> bytes:
        checked = check_digest(digest, self.where)
        response = self.request(
            "get blob", lambda: self.oras.get_blob(self.container, checked, stream=True)
        )
        with response:
            self._check(response, f"blob {checked}")
            data = b""
            for chunk in response.iter_content(chunk_size=65536):
                data += chunk
                if len(data) > MAX_BLOB:
                    raise ImageError(f"{self.where}: blob {checked} is larger than {MAX_BLOB}")
        if digest_of(data) != checked:
            raise ImageError(
                f"{self.where}: blob {checked} is corrupt (its content has another digest)"
            )
        return data

    # --- writing -----------------------------------------------------------

    def _upload(self, path: Path, layer: dict[str, Any]) -> Any:
        return self.request(
            "upload blob", lambda: self.oras.upload_blob(str(path), self.container, layer)
        )

    def put(self, tag: str, raw: bytes, blobs: dict[str, bytes]) -> None:
        """Uploads `blobs`, then the manifest `raw` as `tag`."""
        manifest = json.loads(raw)
        with tempfile.TemporaryDirectory(prefix="espia-push-") as work:
            for descriptor in (manifest["config"], *manifest["layers"]):
                path = Path(work) / descriptor["digest"].replace(":", "-")
                path.write_bytes(blobs[descriptor["digest"]])
                layer = {"digest": descriptor["digest"], "size": descriptor["size"]}
                response = self._upload(path, layer)
                self._check(response, f"blob {descriptor['digest']}")
        url = f"{self.oras.prefix}://{self.container.manifest_url(tag)}"
        response = self.request(
            "put manifest",
            lambda: self.oras.do_request(
                url, "PUT", headers={"Content-Type": MANIFEST_TYPE}, data=raw
            ),
        )
        self._check(response, f"manifest {tag}")


def _reason(exc: BaseException) -> str:
    """The innermost cause of a requests error, in one line."""
    text = str(exc)
    for marker in (
        "Connection refused",
        "Name or service not known",
        "timed out",
        "CERTIFICATE_VERIFY_FAILED",
        "certificate verify failed",
    ):
        if marker in text:
            return marker
    return text.splitlines()[0][:200] if text else type(exc).__name__


def push(
    ref: Reference,
    store: Store,
    options: RegistryOptions,
    signature: Callable[[str, str], tuple[bytes, dict[str, bytes]]] | None = None,
) -> str:
    """Uploads the stored image `ref`, and, with `signature(repository, digest)`, its
    signature at cosign's tag; returns the manifest digest."""
    digest, raw, blobs = store.blobs_of(ref)
    connection = _Connection(ref, options, "push")
    connection.put(ref.tag, raw, blobs)
    if signature is not None:
        sign(ref, store, options, signature)
    return digest


def pull(
    ref: Reference,
    store: Store,
    options: RegistryOptions,
    public_key: Any | None,
) -> str:
    """Fetches `ref` into `store`: the manifest and every blob checked (media types,
    sizes, digests) and, with `public_key`, its cosign signature, all before anything is
    stored; returns the manifest digest."""
    connection = _Connection(ref, options, "pull")
    raw = connection.manifest_bytes(ref.tag)
    try:
        manifest = json.loads(raw)
    except ValueError:
        raise ImageError(f"pull {ref}: its manifest is not JSON") from None
    check_manifest(manifest, f"pull {ref}")
    digest = digest_of(raw)
    verified = _verified_signature(connection, ref, digest, public_key) if public_key else None
    blobs = {
        d["digest"]: connection.blob(d["digest"]) for d in (manifest["config"], *manifest["layers"])
    }
    stored = store.add(ref, raw, blobs)
    if verified is not None:
        # Kept beside the image, as `espia image sign` keeps its own: `kubectl espia run`
        # ships it, so that the nodes check the same signature without the registry.
        keep_signature(store, ref, digest, *verified)
    return stored


def _verified_signature(
    connection: _Connection, ref: Reference, digest: str, public_key: Any
) -> tuple[bytes, dict[str, bytes]]:
    """The cosign signature image of `digest` (manifest, {digest: blob}), checked to be
    by `public_key`: an ImageError says why it is missing or bad."""
    tag = signature_tag(digest)
    try:
        sig_raw = connection.manifest_bytes(tag)
        signature = json.loads(sig_raw)
        descriptors = [signature["config"], *signature["layers"]]
        wanted = [check_digest(d["digest"], f"pull {ref}") for d in descriptors]
    except ImageError as exc:
        if "does not exist" not in str(exc):
            raise
        raise ImageError(
            f"pull {ref}: it is not signed (no {tag}); --verify-image=false pulls it unverified"
        ) from None
    except (ValueError, KeyError, TypeError):
        raise ImageError(f"pull {ref}: its signature manifest is not a signature image") from None
    sig_blobs: dict[str, bytes] = {}

    def blob(wanted_digest: object) -> bytes:
        data = connection.blob(wanted_digest)
        sig_blobs[check_digest(wanted_digest, f"pull {ref}")] = data
        return data

    verify(signature, blob, ref.repository, digest, public_key, f"pull {ref}")
    for wanted_digest in wanted:
        if wanted_digest not in sig_blobs:
            blob(wanted_digest)
    return sig_raw, sig_blobs


def sign(
    ref: Reference,
    store: Store,
    options: RegistryOptions,
    signature: Callable[[str, str], tuple[bytes, dict[str, bytes]]],
) -> str:
    """Signs the stored image `ref` and uploads the signature to its registry (where the
    image itself must be, with the same digest); returns the digest signed."""
    digest, _, _ = store.manifest(ref)
    connection = _Connection(ref, options, "sign")
    sig_raw, sig_blobs = signature(ref.repository, digest)
    connection.put(signature_tag(digest), sig_raw, sig_blobs)
    return digest
