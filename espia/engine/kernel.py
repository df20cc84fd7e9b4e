"""The kernel-configuration phase: what the stages contributed, written into an object.

Between opening an object and loading it, and by naming convention only (no
per-gadget code):

- the gadget's parameters (``GADGET_PARAM``): the values given, already
  checked and encoded (espia.gadget.params);
- in-kernel filters: ``gadget_filter_<name>`` rodata, and its
  ``gadget_filter_by_<name>`` flag (filter.bpf.h);
- ``GADGET_HELPER(helper)``: whether this kernel lets the program call it;
- ``GADGET_FALLBACK(program, helper)``: the program to leave out when it can;
- tracepoints this kernel lacks: their programs are left out (an error when
  nothing is left).

After load, each map a stage asked for is handed to it (`KernelConfig.maps`).
"""

from __future__ import annotations

from collections.abc import Mapping

from espia.ebpf import features
from espia.ebpf.object import BpfObject, GlobalData
from espia.errors import NotSupportedError
from espia.pipeline.operator import KernelConfig

HELPER_PREFIX = "gadget_helper_"
FALLBACK_PREFIX = "gadget_fallback__"
_TRACEPOINT_SECTIONS = ("tracepoint/", "tp/")


def configure(
    obj: BpfObject, kernel: KernelConfig, title: str, params: Mapping[str, bytes] | None = None
) -> None:
    """Writes `kernel` and the `params` values into the opened `obj` (see the module);
    `title` names the gadget."""
    rodata = obj.data(".rodata")
    if rodata is not None:
        for name, value in (params or {}).items():
            rodata.write(name, value)
        _filters(rodata, kernel)
        _helpers(obj, rodata, kernel)
    _tracepoints(obj, title)


def hand_over_maps(obj: BpfObject, kernel: KernelConfig) -> None:
    """Gives each stage the loaded map it asked for (if the program has it)."""
    maps = obj.maps
    for name, uses in kernel.maps.items():
        if name in maps:
            for use in uses:
                use(maps[name])


def _filters(rodata: GlobalData, kernel: KernelConfig) -> None:
    for name, value in kernel.filters.items():
        variable = f"gadget_filter_{name}"
        if variable not in rodata:
            continue
        if isinstance(value, str):
            rodata.write(variable, value.encode())
            continue
        rodata.write(variable, int(value).to_bytes(rodata.size(variable), "little"))
        flag = f"gadget_filter_by_{name}"
        if flag in rodata:
            rodata.write(flag, b"\1")


def _helpers(obj: BpfObject, rodata: GlobalData, kernel: KernelConfig) -> None:
    for name in rodata.names():
        if name.startswith(HELPER_PREFIX):
            helper = name.removeprefix(HELPER_PREFIX)
            usable = _has_helper(obj, kernel, helper, rodata.read(name))
            rodata.write(name, b"\1" if usable else b"\0")
        elif name.startswith(FALLBACK_PREFIX):
            program, _, helper = name.removeprefix(FALLBACK_PREFIX).partition("__")
            if _has_helper(obj, kernel, helper, rodata.read(name)):
                for candidate in obj.programs:
                    if candidate.name == program:
                        candidate.autoload = False


def _has_helper(obj: BpfObject, kernel: KernelConfig, helper: str, helper_id: bytes) -> bool:
    """GADGET_HELPER/GADGET_FALLBACK: whether to take the path that needs `helper`
    (whose id the marker variable holds, from the kernel headers)."""
    if helper in kernel.without_helpers or not obj.programs:
        return False
    return features.helper_supported(obj.programs[0].type, int.from_bytes(helper_id, "little"))


def _tracepoints(obj: BpfObject, title: str) -> None:
    missing = []
    for program in obj.programs:
        hook = _tracepoint(program.section)
        if hook and not features.tracepoint_exists(*hook):
            program.autoload = False
            missing.append("/".join(hook))
    if missing and not any(p.autoload and p.hooked for p in obj.programs):
        raise NotSupportedError(
            missing[0], f"run {title}: this kernel has none of its hooks ({', '.join(missing)})"
        )


def _tracepoint(section: str) -> tuple[str, str] | None:
    for prefix in _TRACEPOINT_SECTIONS:
        if section.startswith(prefix):
            category, _, name = section.removeprefix(prefix).partition("/")
            return category, name
    return None
