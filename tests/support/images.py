"""A gadget image as a user makes one: the guide's gadget built, a key pair, the image signed."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import NamedTuple

from support.guide import write_guide_gadget


class SignedStore(NamedTuple):
    store: Path  # holds mkdir:v1, and its signature
    public_key: Path  # the signer's
    stranger: Path  # another key's public half: no signature is by it


def espia_image(*args: str) -> str:
    """`espia image ARGS`'s stdout; it must succeed."""
    done = subprocess.run(
        [sys.executable, "-m", "espia.cli.main", "image", *args],
        capture_output=True,
        text=True,
        timeout=180,
        env={**os.environ, "COSIGN_PASSWORD": ""},
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def signed_store(work: Path) -> SignedStore:
    """A store in `work` with the guide's gadget built as mkdir:v1 and signed."""
    store = work / "client-store"
    folder = write_guide_gadget(work / "mkdir")
    espia_image("build", str(folder), "-t", "mkdir:v1", "--store", str(store))
    espia_image("keygen", str(work / "signer"))
    espia_image("keygen", str(work / "stranger"))
    signed = espia_image(
        "sign", "mkdir:v1", "--key", str(work / "signer.key"), "--store", str(store)
    )
    assert signed.startswith("signed mkdir:v1 sha256:"), signed
    return SignedStore(store, work / "signer.pub", work / "stranger.pub")
