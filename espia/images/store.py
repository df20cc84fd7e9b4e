"""The local image store: an OCI image layout on disk, written so that nothing is half-written.

    /var/lib/espia/images/          (ESPIA_IMAGE_STORE or --store elsewhere)
        oci-layout
        index.json                  one entry per tag (org.opencontainers.image.ref.name)
        blobs/sha256/<hex>          manifests, configs and layers, by digest
        tmp/                        where files are made before they are renamed in place

Every blob is checked against its digest before it is renamed into
blobs/, and read back through its digest (so a blob changed on disk is
refused when it is run: `held_blob` checks a run's object where it lies,
without copying it, and holds that very file open for the run); index.json
is replaced whole by a rename, under a lock, so a reader never sees half of
it and two writers do not lose each other's tags.  A blob no tag reaches
any more is removed with the last tag.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import re
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from espia.errors import ImageError, UsageError
from espia.images import (
    ARTIFACT_TYPE,
    CONFIG_TYPE,
    LAYER_TYPES,
    MANIFEST_TYPE,
    OBJECT_TYPE,
)

DEFAULT_STORE = Path("/var/lib/espia/images")
STORE_ENV = "ESPIA_IMAGE_STORE"
REF_NAME = "org.opencontainers.image.ref.name"
# No blob of a gadget image is larger (an object is tens of KiB; a source, a yaml less).
MAX_BLOB = 64 << 20
_DIGEST = re.compile(r"sha256:([0-9a-f]{64})")
# [host[:port]/]path[:tag], the path's components as the distribution spec has them.
_REFERENCE = re.compile(
    r"((?:[A-Za-z0-9.-]+(?::[0-9]+)?/)?[a-z0-9]+(?:[._-][a-z0-9]+)*(?:/[a-z0-9]+(?:[._-][a-z0-9]+)*)*)"
    r"(?::([A-Za-z0-9_][A-Za-z0-9_.-]{0,127}))?"
)


@dataclass(frozen=True)
class Reference:
    """NAME[:TAG]: `repository` (with its registry, if it names one) and `tag`."""

    repository: str
    tag: str = "latest"

    @classmethod
    def parse(cls, text: str) -> Reference:
        found = _REFERENCE.fullmatch(text.strip())
        if found is None:
            raise UsageError(
                f"image name {text!r}: expected NAME[:TAG], e.g. mkdir:v1 or "
                "localhost:5000/gadgets/mkdir:v1 (lower-case name; tag of letters, digits, _ . -)"
            )
        return cls(found.group(1), found.group(2) or "latest")

    @property
    def registry(self) -> str | None:
        """host[:port] if the name starts with one (a dot, a port, or localhost)."""
        first, sep, _ = self.repository.partition("/")
        if sep and ("." in first or ":" in first or first == "localhost"):
            return first
        return None

    @property
    def path(self) -> str:
        """The repository inside its registry."""
        registry = self.registry
        return self.repository[len(registry) + 1 :] if registry else self.repository

    @property
    def name(self) -> str:
        """The last component: the gadget's default name."""
        return self.repository.rsplit("/", 1)[-1]

    def __str__(self) -> str:
        return f"{self.repository}:{self.tag}"


def looks_like_reference(text: str) -> bool:
    return _REFERENCE.fullmatch(text.strip()) is not None


def digest_of(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def check_digest(digest: object, where: str) -> str:
    if not isinstance(digest, str) or not _DIGEST.fullmatch(digest):
        raise ImageError(f"{where}: {digest!r} is not a sha256 digest")
    return digest


def check_manifest(manifest: object, where: str) -> dict[str, Any]:
    """`manifest` if it is a gadget image's, else an ImageError saying what is wrong."""
    if not isinstance(manifest, dict) or manifest.get("schemaVersion") != 2:
        raise ImageError(f"{where}: not an OCI image manifest")
    if manifest.get("mediaType") != MANIFEST_TYPE:
        raise ImageError(
            f"{where}: manifest media type {manifest.get('mediaType')!r} is not {MANIFEST_TYPE}"
        )
    if manifest.get("artifactType") != ARTIFACT_TYPE:
        raise ImageError(
            f"{where}: not an espia gadget image (artifact type "
            f"{manifest.get('artifactType')!r}, expected {ARTIFACT_TYPE})"
        )
    config = manifest.get("config")
    layers = manifest.get("layers")
    if not isinstance(config, dict) or config.get("mediaType") != CONFIG_TYPE:
        raise ImageError(f"{where}: its config is not of media type {CONFIG_TYPE}")
    if not isinstance(layers, list) or not layers:
        raise ImageError(f"{where}: it has no layers")
    for descriptor in (config, *layers):
        if not isinstance(descriptor, dict):
            raise ImageError(f"{where}: a layer is not a descriptor")
        check_digest(descriptor.get("digest"), where)
        size = descriptor.get("size")
        if not isinstance(size, int) or not 0 <= size <= MAX_BLOB:
            raise ImageError(f"{where}: blob size {size!r} is not between 0 and {MAX_BLOB}")
    for layer in layers:
        if layer.get("mediaType") not in LAYER_TYPES:
            raise ImageError(
                f"{where}: layer media type {layer.get('mediaType')!r} is not one of "
                f"{', '.join(LAYER_TYPES)}"
            )
    if not any(layer["mediaType"] == OBJECT_TYPE for layer in layers):
        raise ImageError(f"{where}: it holds no object layer ({OBJECT_TYPE})")
    return manifest


def store_path(given: str | os.PathLike[str] | None = None) -> Path:
    """--store, else $ESPIA_IMAGE_STORE, else /var/lib/espia/images."""
    if given:
        return Path(given)
    return Path(os.environ.get(STORE_ENV) or DEFAULT_STORE)


class Store:
    """The images of one store folder (see the module)."""

    def __init__(self, root: str | os.PathLike[str] | None = None) -> None:
        self.root = store_path(root)

    # --- files -------------------------------------------------------------

    def _blob_path(self, digest: str) -> Path:
        hexa = check_digest(digest, f"store {self.root}").removeprefix("sha256:")
        return self.root / "blobs" / "sha256" / hexa

    def _ready(self) -> None:
        try:
            (self.root / "blobs" / "sha256").mkdir(parents=True, exist_ok=True)
            (self.root / "tmp").mkdir(exist_ok=True)
            layout = self.root / "oci-layout"
            if not layout.exists():
                self._write_file(layout, b'{"imageLayoutVersion": "1.0.0"}')
        except OSError as exc:
            raise ImageError(f"open store {self.root}: {exc.strerror or exc}") from exc

    def _write_file(self, path: Path, data: bytes) -> None:
        """Writes `data` to `path` by a rename: readers see the old file or the new one."""
        fd, partial = tempfile.mkstemp(
            dir=self.root / "tmp" if path.name != "oci-layout" else self.root
        )
        try:
            with os.fdopen(fd, "wb") as out:
                out.write(data)
                out.flush()
                os.fsync(out.fileno())
            os.replace(partial, path)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(partial)
            raise

    @contextlib.contextmanager
    def locked(self) -> Iterator[None]:
        """Holds the store's lock: one writer at a time."""
        self._ready()
        with open(self.root / ".lock", "a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            yield

    def put_blob(self, data: bytes, digest: str | None = None) -> str:
        """Stores `data` (checked against `digest` if given); returns its digest."""
        actual = digest_of(data)
        if digest is not None and actual != digest:
            raise ImageError(f"store blob {digest}: its content has digest {actual}")
        path = self._blob_path(actual)
        if not path.exists():
            try:
                self._write_file(path, data)
            except OSError as exc:
                raise ImageError(f"write {path}: {exc.strerror or exc}") from exc
        return actual

    def read_blob(self, digest: str, where: str) -> bytes:
        """The blob `digest`, checked against it; an ImageError if it is missing or changed."""
        path = self._blob_path(digest)
        try:
            with open(path, "rb") as blob:
                data = blob.read(MAX_BLOB + 1)
        except FileNotFoundError:
            raise ImageError(f"{where}: blob {digest} is missing from {self.root}") from None
        except OSError as exc:
            raise ImageError(f"{where}: read {path}: {exc.strerror or exc}") from exc
        if len(data) > MAX_BLOB or digest_of(data) != digest:
            raise ImageError(f"{where}: blob {digest} is corrupt (its content has another digest)")
        return data

    def held_blob(self, digest: str, where: str, stack: contextlib.ExitStack) -> Path:
        """A path to the blob `digest` as it was checked: the file is hashed where it lies
        (not copied) and held open until `stack` closes, and the path names that
        open file, so a blob renamed over or removed after the check is not what is read."""
        path = self._blob_path(digest)
        try:
            fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
        except FileNotFoundError:
            raise ImageError(f"{where}: blob {digest} is missing from {self.root}") from None
        except OSError as exc:
            raise ImageError(f"{where}: read {path}: {exc.strerror or exc}") from exc
        stack.callback(os.close, fd)
        size = os.fstat(fd).st_size
        if size > MAX_BLOB:
            raise ImageError(f"{where}: blob {digest} is larger than {MAX_BLOB} bytes")
        with open(fd, "rb", closefd=False) as blob:
            actual = "sha256:" + hashlib.file_digest(blob, "sha256").hexdigest()
        if actual != digest:
            raise ImageError(f"{where}: blob {digest} is corrupt (its content has another digest)")
        return Path(f"/proc/{os.getpid()}/fd/{fd}")

    # --- tags --------------------------------------------------------------

    def _index(self) -> list[dict[str, Any]]:
        path = self.root / "index.json"
        try:
            index = json.loads(path.read_bytes())
        except FileNotFoundError:
            return []
        except (OSError, ValueError) as exc:
            raise ImageError(f"read {path}: {exc}") from exc
        entries = index.get("manifests") if isinstance(index, dict) else None
        if not isinstance(entries, list):
            raise ImageError(f"read {path}: no manifests list")
        return [e for e in entries if isinstance(e, dict)]

    def _write_index(self, entries: list[dict[str, Any]]) -> None:
        data = json.dumps({"schemaVersion": 2, "manifests": entries}, indent=1).encode()
        try:
            self._write_file(self.root / "index.json", data)
        except OSError as exc:
            raise ImageError(f"write {self.root}/index.json: {exc.strerror or exc}") from exc

    def tags(self) -> dict[str, dict[str, Any]]:
        """{"name:tag": manifest descriptor} of every tag."""
        return {
            str(e.get("annotations", {}).get(REF_NAME)): e
            for e in self._index()
            if e.get("annotations", {}).get(REF_NAME)
        }

    def has(self, ref: Reference) -> bool:
        return str(ref) in self.tags()

    def manifest(self, ref: Reference) -> tuple[str, dict[str, Any], bytes]:
        """(digest, manifest, its bytes) of `ref`, checked; an ImageError if it is not here."""
        descriptor = self.tags().get(str(ref))
        if descriptor is None:
            raise ImageError(
                f"image {ref}: not in the store {self.root} "
                "(see `espia image list`; `espia image pull` fetches one)"
            )
        digest = check_digest(descriptor.get("digest"), f"image {ref}")
        raw = self.read_blob(digest, f"image {ref}")
        try:
            manifest = json.loads(raw)
        except ValueError:
            raise ImageError(f"image {ref}: its manifest is not JSON") from None
        return digest, check_manifest(manifest, f"image {ref}"), raw

    def tag(self, ref: Reference, digest: str, size: int) -> None:
        """Points `ref` at the manifest `digest` (which must be stored)."""
        with self.locked():
            if not self._blob_path(digest).is_file():
                raise ImageError(f"tag {ref}: manifest {digest} is not in {self.root}")
            entries = [
                e for e in self._index() if e.get("annotations", {}).get(REF_NAME) != str(ref)
            ]
            entries.append(
                {
                    "mediaType": MANIFEST_TYPE,
                    "digest": digest,
                    "size": size,
                    "annotations": {REF_NAME: str(ref)},
                }
            )
            self._write_index(entries)

    def remove(self, ref: Reference) -> None:
        """Removes the tag `ref`, and the blobs no other tag reaches."""
        with self.locked():
            entries = self._index()
            kept = [e for e in entries if e.get("annotations", {}).get(REF_NAME) != str(ref)]
            if len(kept) == len(entries):
                raise ImageError(f"remove {ref}: no such image in {self.root}")
            self._write_index(kept)
            self._collect(kept)

    def _collect(self, entries: list[dict[str, Any]]) -> None:
        """Deletes the blobs that no manifest of `entries` reaches."""
        reached: set[str] = set()
        for entry in entries:
            digest = str(entry.get("digest"))
            reached.add(digest)
            with contextlib.suppress(ImageError, ValueError):
                manifest = json.loads(self.read_blob(digest, "store"))
                reached.add(str(manifest["config"]["digest"]))
                reached.update(str(layer["digest"]) for layer in manifest["layers"])
        for blob in (self.root / "blobs" / "sha256").iterdir():
            if f"sha256:{blob.name}" not in reached:
                with contextlib.suppress(OSError):
                    blob.unlink()

    # --- whole images ------------------------------------------------------

    def add(self, ref: Reference, manifest_raw: bytes, blobs: dict[str, bytes]) -> str:
        """Stores a checked image: every blob against its digest, then the tag.  The tag
        is written last, so a failure leaves no image half there."""
        digest = digest_of(manifest_raw)
        wanted = self.check_blobs(ref, manifest_raw, blobs)
        with self.locked():
            for descriptor in wanted:
                self.put_blob(blobs[descriptor["digest"]], descriptor["digest"])
            self.put_blob(manifest_raw, digest)
        self.tag(ref, digest, len(manifest_raw))
        return digest

    @staticmethod
    def check_blobs(
        ref: Reference, manifest_raw: bytes, blobs: dict[str, bytes]
    ) -> list[dict[str, Any]]:
        """The descriptors of the image's blobs, each one present with its size and digest."""
        manifest = check_manifest(json.loads(manifest_raw), f"image {ref}")
        wanted = [manifest["config"], *manifest["layers"]]
        for descriptor in wanted:
            data = blobs.get(descriptor["digest"])
            if data is None:
                raise ImageError(f"image {ref}: blob {descriptor['digest']} is missing")
            if len(data) != descriptor["size"] or digest_of(data) != descriptor["digest"]:
                raise ImageError(
                    f"image {ref}: blob {descriptor['digest']} is corrupt "
                    "(its size or digest does not match the manifest)"
                )
        return wanted

    def blobs_of(self, ref: Reference) -> tuple[str, bytes, dict[str, bytes]]:
        """(digest, manifest bytes, {digest: blob}) of `ref`, every blob checked."""
        digest, manifest, raw = self.manifest(ref)
        where = f"image {ref}"
        blobs = {
            d["digest"]: self.read_blob(d["digest"], where)
            for d in (manifest["config"], *manifest["layers"])
        }
        return digest, raw, blobs

    def export(self, ref: Reference, target: Path) -> None:
        """Writes `ref` as an OCI layout in a tar file (made aside, renamed in place)."""
        import tarfile  # here: a run imports this module, and needs no archive

        digest, raw, blobs = self.blobs_of(ref)
        index = {
            "schemaVersion": 2,
            "manifests": [
                {
                    "mediaType": MANIFEST_TYPE,
                    "digest": digest,
                    "size": len(raw),
                    "annotations": {REF_NAME: str(ref)},
                }
            ],
        }
        files = {
            "oci-layout": b'{"imageLayoutVersion": "1.0.0"}',
            "index.json": json.dumps(index, indent=1).encode(),
            f"blobs/sha256/{digest.removeprefix('sha256:')}": raw,
        }
        for blob_digest, data in blobs.items():
            files[f"blobs/sha256/{blob_digest.removeprefix('sha256:')}"] = data
        partial = target.with_name(f".{target.name}.partial")
        try:
            with tarfile.open(partial, "w") as tar:
                for name, data in files.items():
                    info = tarfile.TarInfo(name)
                    info.size = len(data)
                    info.mode = 0o644
                    tar.addfile(info, _reader(data))
            os.replace(partial, target)
        except OSError as exc:
            with contextlib.suppress(OSError):
                partial.unlink()
            raise ImageError(f"export {ref} to {target}: {exc.strerror or exc}") from exc

    def import_file(self, source: Path) -> list[Reference]:
        """Adds the images of an OCI layout tar file; nothing is stored unless all of an
        image checks out (its manifest, media types, every blob's size and digest)."""
        import tarfile

        where = f"import {source}"
        files: dict[str, bytes] = {}
        try:
            with tarfile.open(source, "r:*") as tar:
                for member in tar:
                    if len(files) > 64:
                        raise ImageError(f"{where}: too many files for a gadget image")
                    if not member.isfile():
                        continue
                    if member.size > MAX_BLOB:
                        raise ImageError(f"{where}: {member.name} is larger than {MAX_BLOB} bytes")
                    extracted = tar.extractfile(member)
                    if extracted is None:
                        continue
                    data = extracted.read(MAX_BLOB + 1)
                    if len(data) != member.size:
                        raise ImageError(f"{where}: {member.name} is truncated")
                    files[member.name.removeprefix("./")] = data
        except (tarfile.TarError, EOFError):
            raise ImageError(f"{where}: not a readable tar file (truncated or corrupt)") from None
        except OSError as exc:
            raise ImageError(f"{where}: {exc.strerror or exc}") from exc
        try:
            index = json.loads(files["index.json"])
            entries = index["manifests"]
        except (KeyError, TypeError, ValueError):
            raise ImageError(f"{where}: no OCI index.json with manifests") from None
        blobs = {
            "sha256:" + name.removeprefix("blobs/sha256/"): data
            for name, data in files.items()
            if name.startswith("blobs/sha256/")
        }
        found: list[tuple[Reference, bytes]] = []
        for entry in entries:
            name = (
                (entry.get("annotations") or {}).get(REF_NAME) if isinstance(entry, dict) else None
            )
            if not isinstance(name, str):
                raise ImageError(f"{where}: an image of index.json has no {REF_NAME}")
            ref = Reference.parse(name)
            digest = check_digest(entry.get("digest"), where)
            raw = blobs.get(digest)
            if raw is None or digest_of(raw) != digest:
                raise ImageError(f"{where}: the manifest of {ref} is missing or corrupt")
            found.append((ref, raw))
        for ref, raw in found:  # every image is checked before the first is stored
            check_manifest(json.loads(raw), f"{where}: {ref}")
            self.check_blobs(ref, raw, blobs)
        for ref, raw in found:
            self.add(ref, raw, blobs)
        return [ref for ref, _ in found]


def _reader(data: bytes) -> Any:
    import io

    return io.BytesIO(data)
