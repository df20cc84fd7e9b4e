"""`espia image build|list|inspect|tag|remove|export|import|push|pull|sign|keygen`.

Images live in a local store (espia.images.store: /var/lib/espia/images,
``$ESPIA_IMAGE_STORE`` or ``--store``); `espia run NAME[:TAG]` runs one from
there, pulling it first if it is missing (``--pull``).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Any

from espia.errors import UsageError

ABOUT = "build, store, move and sign gadget images"
KEY_ENV = "ESPIA_IMAGE_KEY"


def _bool(text: str) -> bool:
    lowered = text.strip().lower()
    if lowered in ("true", "1", "yes"):
        return True
    if lowered in ("false", "0", "no"):
        return False
    raise argparse.ArgumentTypeError(f"{text!r} is not true or false")


def add_store_flag(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--store",
        metavar="DIR",
        help="the image store (default $ESPIA_IMAGE_STORE, else /var/lib/espia/images)",
    )


def add_registry_flags(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--plain-http", action="store_true", help="the registry speaks HTTP, not HTTPS"
    )
    parser.add_argument(
        "--ca-file", metavar="PEM", help="CA certificates the registry's TLS is checked with"
    )
    parser.add_argument(
        "--username", metavar="USER", help="registry user (password in $ESPIA_REGISTRY_PASSWORD)"
    )


def add_verify_flags(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--verify-image",
        type=_bool,
        default=True,
        metavar="BOOL",
        help="check a pulled image's signature (default true; false skips it)",
    )
    parser.add_argument(
        "--key",
        metavar="PUB",
        help=f"the public key signatures are checked with (default ${KEY_ENV})",
    )


def add_parser(commands: Any) -> None:
    image = commands.add_parser("image", help=ABOUT, description=ABOUT)
    verbs = image.add_subparsers(dest="verb", metavar="VERB")
    verbs.required = True
    build = verbs.add_parser("build", help="pack a gadget folder as an image")
    build.add_argument("folder", metavar="DIR", type=Path)
    build.add_argument("-t", "--tag", required=True, metavar="NAME[:TAG]")
    build.add_argument(
        "--object",
        action="append",
        default=[],
        metavar="ARCH=FILE",
        help="an object built for another architecture (repeatable)",
    )
    verbs.add_parser("list", help="the images in the store")
    inspect = verbs.add_parser("inspect", help="an image's manifest, config and layers")
    inspect.add_argument("image", metavar="NAME[:TAG]")
    tag = verbs.add_parser("tag", help="give an image another name")
    tag.add_argument("image", metavar="NAME[:TAG]")
    tag.add_argument("new", metavar="NEW[:TAG]")
    remove = verbs.add_parser("remove", help="remove an image's tag (and blobs no tag uses)")
    remove.add_argument("image", metavar="NAME[:TAG]")
    export = verbs.add_parser("export", help="write an image to an OCI layout tar file")
    export.add_argument("image", metavar="NAME[:TAG]")
    export.add_argument("file", metavar="FILE", type=Path)
    load = verbs.add_parser("import", help="add the images of an OCI layout tar file")
    load.add_argument("file", metavar="FILE", type=Path)
    push = verbs.add_parser("push", help="upload an image to its registry")
    push.add_argument("image", metavar="HOST[:PORT]/NAME[:TAG]")
    push.add_argument("--sign-key", metavar="KEY", type=Path, help="also sign it with this key")
    add_registry_flags(push)
    pull = verbs.add_parser("pull", help="fetch an image from its registry, verified")
    pull.add_argument("image", metavar="HOST[:PORT]/NAME[:TAG]")
    add_registry_flags(pull)
    add_verify_flags(pull)
    sign = verbs.add_parser(
        "sign",
        help="sign a stored image: the signature is kept in the store, and uploaded to the "
        "image's registry if its name has one",
    )
    sign.add_argument("image", metavar="[HOST[:PORT]/]NAME[:TAG]")
    sign.add_argument("--key", required=True, type=Path, metavar="KEY")
    add_registry_flags(sign)
    keygen = verbs.add_parser("keygen", help="make a key pair (password in $COSIGN_PASSWORD)")
    keygen.add_argument(
        "prefix", metavar="PREFIX", type=Path, help="writes PREFIX.key and PREFIX.pub"
    )
    for sub in (build, inspect, tag, remove, export, load, push, pull, sign):
        add_store_flag(sub)
    list_parser = verbs.choices["list"]
    add_store_flag(list_parser)


def registry_options(args: Any) -> Any:
    from espia.images.remote import RegistryOptions

    return RegistryOptions(plain_http=args.plain_http, ca_file=args.ca_file, username=args.username)


def public_key(args: Any, verb: str, ref: object) -> Any:
    """The key a pulled image's signature is checked with; None with --verify-image=false."""
    from espia.errors import ImageError
    from espia.images.signing import load_public

    if not args.verify_image:
        return None
    path = args.key or os.environ.get(KEY_ENV)
    if not path:
        raise ImageError(
            f"{verb} {ref}: checking its signature needs a public key (--key FILE or "
            f"${KEY_ENV}); --verify-image=false skips the check"
        )
    return load_public(Path(path))


def run(args: Any) -> int:
    from espia.images.store import Reference, Store

    store = Store(getattr(args, "store", None))
    verb = args.verb
    if verb == "keygen":
        from espia.images.signing import keygen

        private, public = keygen(args.prefix)
        print(f"wrote {private} and {public}")
        return 0
    if verb == "build":
        from espia.images.gadget import build_image

        objects = {}
        for item in args.object:
            arch, sep, path = item.partition("=")
            if not sep or not arch or not path:
                raise UsageError(f"--object {item!r}: expected ARCH=FILE")
            objects[arch] = Path(path)
        ref = Reference.parse(args.tag)
        digest = build_image(args.folder, ref, store, objects)
        print(f"{ref} {digest}")
        return 0
    if verb == "list":
        tags = store.tags()
        print(f"{'NAME':<48} {'DIGEST':<20} SIZE")
        for name, descriptor in sorted(tags.items()):
            digest = str(descriptor.get("digest", ""))
            print(f"{name:<48} {digest[:19]:<20} {descriptor.get('size', '')}")
        return 0
    if verb == "import":
        for ref in store.import_file(args.file):
            print(f"imported {ref}")
        return 0
    ref = Reference.parse(args.image)
    if verb == "inspect":
        digest, manifest, _ = store.manifest(ref)
        config = json.loads(store.read_blob(manifest["config"]["digest"], f"image {ref}"))
        json.dump(
            {"name": str(ref), "digest": digest, "config": config, "manifest": manifest},
            sys.stdout,
            indent=2,
        )
        print()
        return 0
    if verb == "tag":
        digest, _, raw = store.manifest(ref)
        store.tag(Reference.parse(args.new), digest, len(raw))
        return 0
    if verb == "remove":
        store.remove(ref)
        return 0
    if verb == "export":
        store.export(ref, args.file)
        return 0
    if verb == "push":
        from espia.images.remote import push

        signer = None
        if args.sign_key:
            signer = _signer(args.sign_key)
        digest = push(ref, store, registry_options(args), signer)
        print(f"pushed {ref} {digest}")
        return 0
    if verb == "pull":
        from espia.images.remote import pull

        digest = pull(ref, store, registry_options(args), public_key(args, "pull", ref))
        print(f"pulled {ref} {digest}")
        return 0
    if verb == "sign":
        from espia.images.signatures import keep_signature

        # Kept in the store beside the image (`kubectl espia run` ships it to the nodes),
        # and uploaded to the image's registry when its name has one.
        digest, _, _ = store.manifest(ref)
        made = _signer(args.key)(ref.repository, digest)
        if ref.registry is not None:
            from espia.images.remote import sign

            sign(ref, store, registry_options(args), lambda repository, signed: made)
        keep_signature(store, ref, digest, *made)
        print(f"signed {ref} {digest}")
        return 0
    raise UsageError(f"image {verb}: unknown verb")


def _signer(path: Path) -> Any:
    from espia.images.signing import load_private, signature_image

    key = load_private(path)
    return lambda repository, digest: signature_image(repository, digest, key)
