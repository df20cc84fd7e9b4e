"""The cluster's binaries, built from the pinned Go modules in cluster/build/.

`k8s.io/kubernetes` cannot be `go install`ed (its go.mod replaces every
staging module with a local path), so cluster/build/kubernetes is a module of
ours that requires it and replaces each staging module with its published
tag; cluster/build/etcd does the same for etcd, apart, so that etcd's newer
dependencies do not change Kubernetes' build.  Both go.sum files are
committed: the build downloads exactly what was reviewed.

The build is skipped when BIN/BUILD records the same go.mod/go.sum contents
and Go version.  Module and build caches persist under ~/.cache/espia-cluster,
so a rebuild after a change mostly relinks.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import time
from pathlib import Path

from espia_cluster import layout
from espia_cluster.proc import ClusterError, run, say

KUBERNETES_COMMANDS = (
    "kube-apiserver",
    "kube-controller-manager",
    "kube-scheduler",
    "kubelet",
    "kube-proxy",
    "kubectl",
)
#: etcd's main packages, and the names `go build` gives them (the last path
#: element before the major-version suffix).
ETCD_COMMANDS = {"go.etcd.io/etcd/server/v3": "server", "go.etcd.io/etcd/etcdctl/v3": "etcdctl"}
BINARIES = (*KUBERNETES_COMMANDS, "etcd", "etcdctl")
STAMP = layout.BIN / "BUILD"


def _environment() -> dict[str, str]:
    cache = Path(os.environ.get("ESPIA_CLUSTER_CACHE", Path.home() / ".cache" / "espia-cluster"))
    return {
        "GOMODCACHE": str(cache / "gomod"),
        "GOCACHE": str(cache / "gocache"),
        "GOTOOLCHAIN": "local",  # never fetch another Go: the pinned lines accept this one
        "GOFLAGS": "-mod=readonly",  # go.mod/go.sum are the reviewed pins
        "CGO_ENABLED": "0",  # static, like upstream's release binaries
    }


def _fingerprint() -> str:
    digest = hashlib.sha256(run(["go", "version"]).stdout.encode())
    for module in ("kubernetes", "etcd"):
        for name in ("go.mod", "go.sum"):
            digest.update((layout.GO_MODULES / module / name).read_bytes())
    return digest.hexdigest()


def current() -> bool:
    """True when the binaries match the pinned modules (no Go needed to answer False)."""
    if not all((layout.BIN / name).exists() for name in BINARIES) or not STAMP.exists():
        return False
    return shutil.which("go") is None or STAMP.read_text().strip() == _fingerprint()


def _version_flags(version: str) -> str:
    """Link-time version strings, as upstream's hack/lib/version.sh sets them."""
    major, minor = version.removeprefix("v").split(".")[:2]
    flags = ["-s", "-w"]
    for package in ("k8s.io/component-base/version", "k8s.io/client-go/pkg/version"):
        flags += [
            f"-X {package}.gitVersion={version}",
            f"-X {package}.gitMajor={major}",
            f"-X {package}.gitMinor={minor}",
            f"-X {package}.gitTreeState=clean",
        ]
    return " ".join(flags)


def build(force: bool = False) -> None:
    """Build every binary into BIN, unless they are current."""
    if not force and current():
        say(f"binaries current in {layout.BIN} (Kubernetes {layout.kubernetes_version()})")
        return
    if shutil.which("go") is None:
        raise ClusterError("go: not installed (Go 1.24 or later builds the cluster)")
    env = _environment()
    out = layout.PREFIX / "bin.new"
    shutil.rmtree(out, ignore_errors=True)
    out.mkdir(parents=True)
    k8s = layout.kubernetes_version()
    started = time.monotonic()
    say(f"building Kubernetes {k8s} (cold: 10-30 min on 2 cores; warm: seconds)")
    run(
        [
            "go",
            "build",
            "-trimpath",
            "-tags=selinux,notest",  # upstream's tags
            f"-ldflags=all={_version_flags(k8s)}",
            "-o",
            f"{out}/",
            *(f"k8s.io/kubernetes/cmd/{command}" for command in KUBERNETES_COMMANDS),
        ],
        env=env,
        cwd=layout.GO_MODULES / "kubernetes",
        timeout=3 * 3600,
    )
    say(f"building etcd {layout.etcd_version()}")
    run(
        ["go", "build", "-trimpath", "-ldflags=-s -w", "-o", f"{out}/", *ETCD_COMMANDS],
        env=env,
        cwd=layout.GO_MODULES / "etcd",
        timeout=3600,
    )
    (out / ETCD_COMMANDS["go.etcd.io/etcd/server/v3"]).rename(out / "etcd")
    version = run([str(out / "kube-apiserver"), "--version"]).stdout.split()[-1]
    if version != k8s:
        raise ClusterError(f"kube-apiserver reports {version}, not {k8s}: version flags lost")
    (out / "BUILD").write_text(_fingerprint() + "\n")
    shutil.rmtree(layout.BIN, ignore_errors=True)
    out.rename(layout.BIN)
    say(f"built in {time.monotonic() - started:.0f} s into {layout.BIN}")
