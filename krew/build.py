"""`make krew`: the krew plugin, a self-contained `kubectl-espia` and its manifest.

    python3 krew/build.py [--uri URI]

Builds, under build/krew/:
- dist/kubectl-espia/, a PyInstaller one-folder build: the executable
  kubectl-espia beside _internal/, the Python interpreter, espia (with its
  gadget descriptions) and its dependencies, so it needs no Python and none
  of espia's packages on the machine.  One folder rather than PyInstaller's
  one file: a one-file executable unpacks its ~80 MB into a temporary
  directory at every start (12-18 s on a loaded 2-core machine, measured),
  a folder starts at once, and krew installs a folder as well as a file;
- kubectl-espia-linux-amd64.tar.gz, that folder (the archive krew installs);
- espia.yaml, the krew manifest, with the archive's sha256.  Its `uri`
  (where krew would download the archive from) is `--uri`, by default the
  archive's own file URL: `kubectl krew install --manifest=build/krew/espia.yaml
  --archive=build/krew/kubectl-espia-linux-amd64.tar.gz` installs it as is.
It also builds krew itself (sigs.k8s.io/krew, the pinned KREW_VERSION) once,
into the Go cache directory the cluster's build uses, if it is not there.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import platform
import subprocess
import sys
import tarfile
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "build" / "krew"
ARCHIVE = OUT / "kubectl-espia-linux-amd64.tar.gz"
MANIFEST = OUT / "espia.yaml"
BINARY = OUT / "dist" / "kubectl-espia" / "kubectl-espia"
KREW_VERSION = "v0.4.3"
# Packages the analysis pulls in through optional imports of the dependencies
# (editors' completion, imaging, Tk, the protobuf compiler, test tools): 80 MB.
EXCLUDED = ("jedi", "parso", "IPython", "PIL", "tkinter", "grpc_tools", "pytest", "mypy")
CACHE = Path.home() / ".cache" / "espia-cluster"
KREW = CACHE / f"krew-{KREW_VERSION}" / "bin" / "krew"


def version() -> str:
    sys.path.insert(0, str(ROOT))
    from espia._version import __version__

    return __version__


def sources_newer_than(target: Path) -> bool:
    if not target.exists():
        return True
    built = target.stat().st_mtime
    inputs = [*(ROOT / "espia").rglob("*.py"), *(ROOT / "espia").rglob("gadget.yaml")]
    return any(path.stat().st_mtime > built for path in [*inputs, Path(__file__)])


def build_binary() -> None:
    """The one-folder build (skipped while no source changed since the last build)."""
    if not sources_newer_than(BINARY):
        return
    subprocess.run(
        [
            sys.executable, "-m", "PyInstaller", "--onedir", "--noconfirm",
            "--log-level", "WARN", "--name", "kubectl-espia",
            # gadget.yaml files: the parser lists every gadget and its flags.
            "--collect-data", "espia",
            # Found by PyInstaller's analysis of optional imports, never used here.
            *(f"--exclude-module={name}" for name in EXCLUDED),
            "--distpath", str(OUT / "dist"), "--workpath", str(OUT / "work"),
            "--specpath", str(OUT), str(ROOT / "krew" / "kubectl_espia.py"),
        ],
        check=True,
        cwd=ROOT,
    )  # fmt: skip


def build_archive() -> str:
    """The archive krew unpacks (reproducible: fixed owner and times); its sha256."""

    def normalized(info: tarfile.TarInfo) -> tarfile.TarInfo:
        info.uid = info.gid = 0
        info.uname = info.gname = ""
        info.mtime = 0
        return info

    with tarfile.open(ARCHIVE, "w:gz") as archive:
        archive.add(BINARY.parent, arcname="kubectl-espia", filter=normalized)
    return hashlib.sha256(ARCHIVE.read_bytes()).hexdigest()


def manifest(sha256: str, uri: str) -> dict:
    return {
        "apiVersion": "krew.googlecontainertools.github.com/v1alpha2",
        "kind": "Plugin",
        "metadata": {"name": "espia"},
        "spec": {
            "version": f"v{version()}",
            "shortDescription": "Run espia's eBPF gadgets on every node",
            "description": (
                "kubectl espia deploys espia's agent on every node (deploy, undeploy)\n"
                "and runs its gadgets there (trace exec, open, dns, tcp...), merging\n"
                "the nodes' events with K8S.NODE, K8S.NAMESPACE and K8S.POD.\n"
            ),
            "platforms": [
                {
                    "selector": {"matchLabels": {"os": "linux", "arch": "amd64"}},
                    "uri": uri,
                    "sha256": sha256,
                    "bin": "kubectl-espia",
                    "files": [{"from": "kubectl-espia/*", "to": "."}],
                }
            ],
        },
    }


def build_krew() -> None:
    """krew from its Go module, pinned, once, into the cluster build's Go cache directory."""
    if KREW.exists():
        return
    KREW.parent.mkdir(parents=True, exist_ok=True)
    environment = {
        **os.environ,
        "GOFLAGS": "-p=1",
        "GOMODCACHE": str(CACHE / "gomod"),
        "GOCACHE": str(CACHE / "gocache"),
        "GOBIN": str(KREW.parent),
    }
    subprocess.run(
        [
            "go",
            "install",
            f"sigs.k8s.io/krew/cmd/krew@{KREW_VERSION}",
        ],
        check=True,
        env=environment,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description="Build the krew plugin of kubectl espia.")
    parser.add_argument("--uri", help="where the archive will be published (default: its file)")
    args = parser.parse_args()
    if platform.system() != "Linux" or platform.machine() != "x86_64":
        sys.exit("krew/build.py: builds the linux/amd64 plugin, on linux/amd64 only")
    OUT.mkdir(parents=True, exist_ok=True)
    build_binary()
    sha256 = build_archive()
    MANIFEST.write_text(
        yaml.safe_dump(manifest(sha256, args.uri or ARCHIVE.as_uri()), sort_keys=False)
    )
    build_krew()
    print(f"{ARCHIVE}\n{MANIFEST}\nkrew: {KREW}")


if __name__ == "__main__":
    main()
