"""The cluster's images, made without any registry: built with podman, saved as tars.

- a Debian 12 base, made by mmdebstrap from Debian's packages and imported
  as ``localhost/espia-debian:12``; it trusts the CAs this machine added
  (/usr/local/share/ca-certificates), as an image built here would need to;
- the sandbox ("pause") image: cluster/images/pause.c, compiled static;
- a busybox test image: Debian's static busybox;
- the espia agent image: the project's own Dockerfile, really executed, on
  that base (``--build-arg BASE=...``), with the host's network for apt/pip.

podman uses a store of its own under PREFIX/podman, so the machine's podman
images are never touched, and its layer cache makes an unchanged rebuild take
seconds.  Each image is saved as a docker-archive tar in IMAGES, which
``import`` loads into every node's containerd.
"""

from __future__ import annotations

import shutil
import tempfile
import time
from pathlib import Path

from espia_cluster import layout
from espia_cluster.proc import ClusterError, run, say

BASE = "localhost/espia-debian:12"
_MIRROR = "http://deb.debian.org/debian"
_SLIM_EXCLUDES = ("doc", "man", "info", "locale", "groff", "lintian", "linda")
_CONTAINERS_CONF = """\
[containers]
default_ulimits = []
[engine]
cgroup_manager = "cgroupfs"
events_logger = "file"
"""


def _podman(*args: str, timeout: float = 1800) -> str:
    conf = layout.PODMAN / "containers.conf"
    if not conf.exists():
        conf.parent.mkdir(parents=True, exist_ok=True)
        conf.write_text(_CONTAINERS_CONF)
    argv = [
        "podman",
        "--root",
        str(layout.PODMAN / "storage"),
        "--runroot",
        str(layout.PODMAN / "run"),
        "--storage-driver",
        "overlay",
        *args,
    ]
    return run(argv, env={"CONTAINERS_CONF": str(conf)}, timeout=timeout).stdout.strip()


def _image_id(name: str) -> str | None:
    ids = _podman("images", "--quiet", "--no-trunc", "--filter", f"reference={name}")
    return ids.splitlines()[0] if ids else None


def _base() -> None:
    if _image_id(BASE):
        return
    say("making the Debian 12 base image with mmdebstrap")
    with tempfile.TemporaryDirectory(prefix="espia-base-") as tmp:
        rootfs = Path(tmp) / "rootfs.tar"
        run(
            [
                "mmdebstrap",
                "--variant=minbase",
                "--include=ca-certificates",
                # What Debian's -slim images leave out; kept in the image's dpkg
                # configuration, so the Dockerfile's apt-get leaves it out too.
                *(f"--dpkgopt=path-exclude=/usr/share/{d}/*" for d in _SLIM_EXCLUDES),
                "--dpkgopt=path-include=/usr/share/doc/*/copyright",
                "--customize-hook=cp -r /usr/local/share/ca-certificates/. "
                '"$1/usr/local/share/ca-certificates/"',
                '--customize-hook=chroot "$1" update-ca-certificates',
                "bookworm",
                str(rootfs),
                _MIRROR,
            ],
            timeout=1800,
        )
        _podman("import", str(rootfs), BASE)


def _build(name: str, context: Path, containerfile: Path, *options: str) -> None:
    _podman(
        "build",
        "--pull=never",
        "--layers",
        # No io.buildah.version label: the sandbox image's labels end up on every pod sandbox.
        "--identity-label=false",
        "--tag",
        layout.IMAGE_NAMES[name],
        "--file",
        str(containerfile),
        *options,
        str(context),
        timeout=3600,
    )


def _save(name: str) -> None:
    """Save the image as IMAGES/name.tar, unless the tar already holds this image id."""
    image = layout.IMAGE_NAMES[name]
    image_id = _image_id(image)
    if image_id is None:
        raise ClusterError(f"podman: no image {image} after its build")
    tar, stamp = layout.IMAGES / f"{name}.tar", layout.IMAGES / f"{name}.id"
    if tar.exists() and stamp.exists() and stamp.read_text().strip() == image_id:
        return
    layout.IMAGES.mkdir(parents=True, exist_ok=True)
    partial = tar.with_suffix(".partial")
    partial.unlink(missing_ok=True)
    _podman("save", "--format", "docker-archive", "--output", str(partial), image)
    partial.replace(tar)
    stamp.write_text(image_id + "\n")


def build() -> None:
    """Build (or find in podman's layer cache) every image and save its tar."""
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="espia-images-") as tmp:
        context = Path(tmp)
        if not _image_id(layout.IMAGE_NAMES["pause"]):
            run(
                [
                    "gcc",
                    "-static",
                    "-Os",
                    "-s",
                    "-o",
                    str(context / "pause"),
                    str(layout.IMAGE_SOURCES / "pause.c"),
                ]
            )
            _build("pause", context, layout.IMAGE_SOURCES / "pause.Containerfile")
        if not _image_id(layout.IMAGE_NAMES["busybox"]):
            busybox = shutil.which("busybox")
            if busybox is None:
                raise ClusterError("busybox: not installed (Debian: busybox-static)")
            shutil.copy2(busybox, context / "busybox")
            _build(
                "busybox", context, layout.IMAGE_SOURCES / "busybox.Containerfile", "--network=none"
            )
    _base()
    say("building the espia image from the project's Dockerfile")
    _build(
        "agent",
        layout.PROJECT,
        layout.PROJECT / "Dockerfile",
        f"--build-arg=BASE={BASE}",
        "--network=host",
    )
    for name in layout.IMAGE_NAMES:
        _save(name)
    say(f"images ready in {layout.IMAGES} ({time.monotonic() - started:.0f} s)")
