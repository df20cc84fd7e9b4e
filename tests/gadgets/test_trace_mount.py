"""trace mount in a private mount namespace: mount, umount and the new mount API, failures too."""

from __future__ import annotations

import errno
import json
import os
import subprocess
import sys

import pytest
from support.workloads import PRELUDE, comm_name

PATHS = {"exit-only": (), "entry-and-exit": ("task_pt_regs", "get_current_task_btf")}

# Runs in its own mount namespace (unshare -m): nothing it mounts is seen outside.
MOUNTS = """
import ctypes, json
libc = ctypes.CDLL(None, use_errno=True)
def call(result):
    return result if result >= 0 else -ctypes.get_errno()
where = sys.argv[2].encode()
MS_NOSUID, MS_NODEV, MNT_DETACH = 2, 4, 2
out = [call(libc.mount(b"none", where, b"tmpfs", MS_NOSUID | MS_NODEV, b"size=1m,mode=0700"))]
out.append(call(libc.umount2(where, MNT_DETACH)))
out.append(call(libc.mount(b"none", where, b"nosuchfs", 0, None)))
out.append(call(libc.umount2(where, 0)))
fs = call(libc.syscall(430, b"tmpfs", 1))                        # fsopen, FSOPEN_CLOEXEC
out.append(fs)
out.append(call(libc.syscall(431, fs, 6, None, None, 0)))       # fsconfig CMD_CREATE
mnt = call(libc.syscall(432, fs, 1, 0))                          # fsmount, FSMOUNT_CLOEXEC
out.append(mnt)
out.append(call(libc.syscall(429, mnt, b"", -100, where, 4)))    # move_mount F_EMPTY_PATH
out.append(call(libc.syscall(428, -100, where, 1 | 0o2000000)))  # open_tree CLONE|CLOEXEC
out.append(call(libc.umount2(where, MNT_DETACH)))
print(json.dumps(out))
"""


@pytest.mark.parametrize("path", list(PATHS))
def test_mount_calls_have_exact_source_target_type_flags_and_error(recorder, tmp_path, path):
    comm = comm_name()
    where = str(tmp_path)
    out: list[str] = []

    def workload() -> None:
        argv = ["unshare", "-m", sys.executable, "-c", PRELUDE + MOUNTS, comm, where]
        out.append(subprocess.run(argv, capture_output=True, text=True, check=True).stdout)

    events = recorder("mount", workload, filter=f"comm:{comm}", without_helpers=PATHS[path])
    mounted, unmounted, no_fs, not_mounted, fs, created, mnt, moved, tree, last = json.loads(out[0])
    assert (mounted, unmounted, moved, last, created) == (0, 0, 0, 0, 0)
    assert (no_fs, not_mounted) == (-errno.ENODEV, -errno.EINVAL)
    assert min(fs, mnt, tree) >= 0
    seen = [
        (e.get("call"), e.src, e.dest, e.fs, e.get("flags"), e.data, e.err, e.ret) for e in events
    ]
    assert seen == [
        ("mount", "none", where, "tmpfs", "MS_NOSUID|MS_NODEV", "size=1m,mode=0700", 0, 0),
        ("umount", "", where, "", "MNT_DETACH", "", 0, 0),
        ("mount", "none", where, "nosuchfs", "", "", errno.ENODEV, no_fs),
        ("umount", "", where, "", "", "", errno.EINVAL, not_mounted),
        ("fsopen", "", "", "tmpfs", "FSOPEN_CLOEXEC", "", 0, fs),
        ("fsmount", "", "", "", "FSMOUNT_CLOEXEC", "", 0, mnt),
        ("move_mount", "", where, "", "MOVE_MOUNT_F_EMPTY_PATH", "", 0, 0),
        ("open_tree", where, "", "", "OPEN_TREE_CLONE|OPEN_TREE_CLOEXEC", "", 0, tree),
        ("umount", "", where, "", "MNT_DETACH", "", 0, 0),
    ]
    assert events[2].get("errname") == "ENODEV"
    # The private namespace's, not this one's.
    (mntns,) = {e.mntns for e in events}
    assert mntns != os.stat("/proc/self/ns/mnt").st_ino
