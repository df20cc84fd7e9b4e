"""From a gadget folder to an image, and from a stored image back to a runnable gadget."""

from __future__ import annotations

import json
import platform
from contextlib import ExitStack
from pathlib import Path

from espia._version import __version__
from espia.errors import ImageError, UsageError
from espia.gadget.local import checked, open_gadget, workdir
from espia.gadget.spec import DESCRIPTION, OBJECT, SOURCE, GadgetSpec
from espia.images import (
    ARCH,
    ARTIFACT_TYPE,
    CONFIG_TYPE,
    MANIFEST_TYPE,
    OBJECT_TYPE,
    SOURCE_TYPE,
    TITLE,
    YAML_TYPE,
)
from espia.images.store import Reference, Store, digest_of


def this_arch() -> str:
    return platform.machine()


def _layer(media_type: str, data: bytes, title: str, **annotations: str) -> dict[str, object]:
    return {
        "mediaType": media_type,
        "digest": digest_of(data),
        "size": len(data),
        "annotations": {TITLE: title, **annotations},
    }


def build_image(
    folder: Path, ref: Reference, store: Store, objects: dict[str, Path] | None = None
) -> str:
    """Builds the gadget in `folder` (checked as `espia run` checks it) for this
    architecture, adds `objects` built for others ({arch: .bpf.o}), and stores it as `ref`;
    returns the manifest's digest."""
    if not folder.is_dir():
        raise UsageError(f"build {folder}: not a gadget folder")
    with ExitStack() as stack:
        spec = open_gadget(folder, stack)
        assert spec.built is not None
        blobs: dict[str, bytes] = {}
        layers = []
        arches = {this_arch(): spec.built, **(objects or {})}
        for arch, path in arches.items():
            data = Path(path).read_bytes()
            layers.append(_layer(OBJECT_TYPE, data, OBJECT, **{ARCH: arch}))
            blobs[digest_of(data)] = data
        for name, media_type in ((DESCRIPTION, YAML_TYPE), (SOURCE, SOURCE_TYPE)):
            if (folder / name).is_file():
                data = (folder / name).read_bytes()
                layers.append(_layer(media_type, data, name))
                blobs[digest_of(data)] = data
        config = json.dumps(
            {"name": spec.name, "espia": __version__, "architectures": sorted(arches)},
            sort_keys=True,
        ).encode()
        blobs[digest_of(config)] = config
        manifest = {
            "schemaVersion": 2,
            "mediaType": MANIFEST_TYPE,
            "artifactType": ARTIFACT_TYPE,
            "config": {"mediaType": CONFIG_TYPE, "digest": digest_of(config), "size": len(config)},
            "layers": layers,
            "annotations": {"io.espia.gadget.name": spec.name},
        }
        raw = json.dumps(manifest, sort_keys=True).encode()
        return store.add(ref, raw, blobs)


def open_image(ref: Reference, store: Store, stack: ExitStack) -> GadgetSpec:
    """The stored image `ref` as a gadget to run: its object for this architecture and its
    gadget.yaml, each checked against its digest where it lies in the store and read from
    there (through links named as the gadget's files, in a private directory that `stack`
    removes), then checked as any user gadget is."""
    _, manifest, _ = store.manifest(ref)
    where = f"image {ref}"
    by_type: dict[tuple[str, str], str] = {}
    for layer in manifest["layers"]:
        arch = (layer.get("annotations") or {}).get(ARCH, "")
        by_type[(layer["mediaType"], arch if layer["mediaType"] == OBJECT_TYPE else "")] = layer[
            "digest"
        ]
    obj = by_type.get((OBJECT_TYPE, this_arch()))
    if obj is None:
        have = sorted(a for t, a in by_type if t == OBJECT_TYPE)
        raise ImageError(f"{where}: no object for {this_arch()} (it has {', '.join(have)})")
    work = workdir(stack)
    built = work / f"{ref.name}.bpf.o"
    built.symlink_to(store.held_blob(obj, where, stack))
    spec = None
    yaml_digest = by_type.get((YAML_TYPE, ""))
    if yaml_digest:
        (work / DESCRIPTION).symlink_to(store.held_blob(yaml_digest, where, stack))
        spec = GadgetSpec.from_folder(work)
    return checked(spec, work, ref.name.replace(".", "_"), built)
