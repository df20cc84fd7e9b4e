"""The types of mount calls: which syscall, and its flags by that call's names.

The names are written here, from the kernel's headers (include/uapi/linux/mount.h),
never taken from C identifiers in a gadget's object.
"""

from __future__ import annotations

from espia.gadget.fields import ValueKind, bits_text, memoized
from espia.semantic import SemanticType, register

# gadget_mount_call values (types.h): the syscall's name.
MOUNT_CALLS = (
    "mount",
    "umount",
    "fsopen",
    "fsmount",
    "move_mount",
    "open_tree",
    "fspick",
    "mount_setattr",
)

# include/uapi/linux/mount.h, per call.
_MS = (
    (1, "MS_RDONLY"),
    (2, "MS_NOSUID"),
    (4, "MS_NODEV"),
    (8, "MS_NOEXEC"),
    (16, "MS_SYNCHRONOUS"),
    (32, "MS_REMOUNT"),
    (64, "MS_MANDLOCK"),
    (128, "MS_DIRSYNC"),
    (256, "MS_NOSYMFOLLOW"),
    (1024, "MS_NOATIME"),
    (2048, "MS_NODIRATIME"),
    (4096, "MS_BIND"),
    (8192, "MS_MOVE"),
    (16384, "MS_REC"),
    (32768, "MS_SILENT"),
    (1 << 16, "MS_POSIXACL"),
    (1 << 17, "MS_UNBINDABLE"),
    (1 << 18, "MS_PRIVATE"),
    (1 << 19, "MS_SLAVE"),
    (1 << 20, "MS_SHARED"),
    (1 << 21, "MS_RELATIME"),
    (1 << 22, "MS_KERNMOUNT"),
    (1 << 23, "MS_I_VERSION"),
    (1 << 24, "MS_STRICTATIME"),
    (1 << 25, "MS_LAZYTIME"),
)
_UMOUNT = ((1, "MNT_FORCE"), (2, "MNT_DETACH"), (4, "MNT_EXPIRE"), (8, "UMOUNT_NOFOLLOW"))
_FSOPEN = ((1, "FSOPEN_CLOEXEC"),)
_FSMOUNT = ((1, "FSMOUNT_CLOEXEC"),)
_MOVE_MOUNT = (
    (1, "MOVE_MOUNT_F_SYMLINKS"),
    (2, "MOVE_MOUNT_F_AUTOMOUNTS"),
    (4, "MOVE_MOUNT_F_EMPTY_PATH"),
    (0x10, "MOVE_MOUNT_T_SYMLINKS"),
    (0x20, "MOVE_MOUNT_T_AUTOMOUNTS"),
    (0x40, "MOVE_MOUNT_T_EMPTY_PATH"),
    (0x100, "MOVE_MOUNT_SET_GROUP"),
    (0x200, "MOVE_MOUNT_BENEATH"),
)
_AT = (
    (0x100, "AT_SYMLINK_NOFOLLOW"),
    (0x800, "AT_NO_AUTOMOUNT"),
    (0x1000, "AT_EMPTY_PATH"),
    (0x8000, "AT_RECURSIVE"),
)
_OPEN_TREE = ((1, "OPEN_TREE_CLONE"), (0o2000000, "OPEN_TREE_CLOEXEC"), *_AT)
_FSPICK = (
    (1, "FSPICK_CLOEXEC"),
    (2, "FSPICK_SYMLINK_NOFOLLOW"),
    (4, "FSPICK_NO_AUTOMOUNT"),
    (8, "FSPICK_EMPTY_PATH"),
)
_MOUNT_FLAGS = (_MS, _UMOUNT, _FSOPEN, _FSMOUNT, _MOVE_MOUNT, _OPEN_TREE, _FSPICK, _AT)


def mount_call(value: int) -> str:
    return MOUNT_CALLS[value] if 0 <= value < len(MOUNT_CALLS) else str(value)


def mount_flags(value: int) -> str:
    """The low 32 bits as the flag names of the call in the high 32 (types.h)."""
    call, flags = value >> 32, value & 0xFFFFFFFF
    names = _MOUNT_FLAGS[call] if call < len(_MOUNT_FLAGS) else ()
    return bits_text(flags, names)


register(
    "gadget_mount_call",
    SemanticType(ValueKind.INT, render=mount_call, json_text=True, width=13, parse=str.lower),
)
register(
    "gadget_mount_flags",
    SemanticType(
        ValueKind.INT, render=memoized(mount_flags), json_text=True, width=24, parse=str.upper
    ),
)
