"""Where the node's container runtime listens, as its kubelet says (`espia agent
--runtime-from-kubelet`, what `kubectl espia deploy` runs without --runtime-socket).

The kubelet is the one process that must know the runtime's socket: its
``--container-runtime-endpoint`` flag, else ``containerRuntimeEndpoint`` in
its ``--config`` file (and its ``--config-dir`` drop-ins, which override it),
else the kubelet's default (``unix:///run/containerd/containerd.sock``).
The agent runs with the host's PIDs (hostPID, which it needs anyway to tie
events to processes) and CAP_SYS_PTRACE, so it reads the kubelet's command
line in /proc and its files through ``/proc/PID/root``: no API call, no
extra privilege, no host path to mount.  The socket is reached the same way:
through ``/proc/1/root`` when the kubelet shares the host's mount namespace
(so a restarted kubelet changes nothing), else through the kubelet's own root.

Several kubelets on one kernel (a test cluster's nodes) are told apart by
``--hostname-override``, which must then name this node.
"""

from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass
from pathlib import Path

import yaml

DEFAULT_ENDPOINT = "unix:///run/containerd/containerd.sock"
# A unix socket's path is at most 107 bytes (sun_path).
SOCKET_PATH_MAX = 107


@dataclass(frozen=True)
class Kubelet:
    pid: int
    argv: tuple[str, ...]

    def flag(self, name: str) -> str | None:
        """The value of `--name=VALUE` or `--name VALUE` (the last one given), if any."""
        found = None
        args = list(self.argv[1:])
        for index, arg in enumerate(args):
            if arg.startswith(f"--{name}="):
                found = arg.split("=", 1)[1]
            elif arg == f"--{name}" and index + 1 < len(args):
                found = args[index + 1]
        return found


def kubelets(proc: Path = Path("/proc")) -> list[Kubelet]:
    """The kubelet processes this agent sees."""
    found = []
    for entry in proc.iterdir():
        if not entry.name.isdigit():
            continue
        try:
            argv = (entry / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if argv and os.path.basename(argv[0]) == b"kubelet":
            text = tuple(a.decode("utf-8", "surrogateescape") for a in argv if a)
            found.append(Kubelet(int(entry.name), text))
    return sorted(found, key=lambda k: k.pid)


def _in_root(kubelet: Kubelet, path: str, proc: Path) -> Path:
    """`path` as the kubelet names it (relative: to its working directory), from here."""
    base = proc / str(kubelet.pid)
    if path.startswith("/"):
        return base / "root" / path.lstrip("/")
    return base / "cwd" / path


def _config_endpoint(kubelet: Kubelet, proc: Path) -> str | None:
    """containerRuntimeEndpoint from the kubelet's config file and drop-ins, if set."""
    files = []
    config = kubelet.flag("config")
    if config:
        files.append(_in_root(kubelet, config, proc))
    drop_ins = kubelet.flag("config-dir")
    if drop_ins:
        folder = _in_root(kubelet, drop_ins, proc)
        with contextlib.suppress(OSError):  # a drop-in folder not made: none
            files += sorted(p for p in folder.iterdir() if p.name.endswith(".conf"))
    endpoint = None
    for file in files:
        try:
            data = yaml.safe_load(file.read_text())
        except (OSError, yaml.YAMLError):
            continue
        if isinstance(data, dict) and isinstance(data.get("containerRuntimeEndpoint"), str):
            endpoint = data["containerRuntimeEndpoint"]
    return endpoint


def runtime_name(path: str) -> str:
    """Which of espia's runtime clients speaks at `path`: containerd's own API where the
    socket is containerd's, CRI-O's, else the CRI (any runtime the kubelet can use)."""
    name = os.path.basename(path)
    if "containerd" in name:
        return "containerd"
    if "crio" in name or "cri-o" in name:
        return "cri-o"
    return "cri"


def _shares_host_mounts(kubelet: Kubelet, proc: Path) -> bool:
    try:
        return os.readlink(proc / "1" / "ns" / "mnt") == os.readlink(
            proc / str(kubelet.pid) / "ns" / "mnt"
        )
    except OSError:
        return False


def find_runtime(node: str, proc: Path = Path("/proc")) -> tuple[str, str]:
    """(runtime name, socket path from here) of `node`'s kubelet; a ValueError says why
    there is none (no kubelet seen, several and none named `node`, an endpoint that is no
    unix socket)."""
    found = kubelets(proc)
    if not found:
        raise ValueError("no kubelet process is visible (the agent needs hostPID)")
    named = [k for k in found if k.flag("hostname-override") == node]
    if named:
        kubelet = named[0]
    elif len(found) == 1:
        kubelet = found[0]
    else:
        raise ValueError(
            f"{len(found)} kubelets run on this kernel and none has --hostname-override={node}"
        )
    endpoint = (
        kubelet.flag("container-runtime-endpoint")
        or _config_endpoint(kubelet, proc)
        or DEFAULT_ENDPOINT
    )
    scheme, sep, path = endpoint.partition("://")
    if not sep:
        path = endpoint  # a bare path: what old kubelets accepted
    elif scheme != "unix":
        raise ValueError(f"the kubelet's runtime endpoint {endpoint!r} is not a unix socket")
    root = proc / "1" if _shares_host_mounts(kubelet, proc) else proc / str(kubelet.pid)
    reachable = str(root / "root" / path.lstrip("/"))
    if len(reachable.encode()) > SOCKET_PATH_MAX:
        raise ValueError(f"the runtime's socket path {reachable!r} is too long for a socket")
    return runtime_name(path), reachable
