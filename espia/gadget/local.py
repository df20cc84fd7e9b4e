"""A user's gadget from a path: what `espia run PATH` and `espia.run(PATH)` run.

PATH is one of:

- a ``.bpf.c`` file: compiled with the shared headers installed with espia
  (``#include <espia/gadget.bpf.h>``), through the compile cache
  (espia.ebpf.compile_cache: clang runs once per distinct input);
- a folder holding ``program.bpf.c`` (or only a built ``program.bpf.o``) and
  an optional ``gadget.yaml`` (the built-in gadgets' layout);
- a built ``.bpf.o`` file.

The object is compiled (or copied) into a private directory of this run,
removed when the run ends, and checked there before anything else reads it:
whoever wrote it is not trusted, so (besides the BTF names the schema
checks before code is generated from them) only the program kinds espia
attaches are accepted, and every map is bounded in size.  A gadget without
a gadget.yaml is tied to containers by its first ``gadget_mntns_id``
member, else its first ``gadget_netns_id`` member.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import tempfile
from contextlib import ExitStack
from dataclasses import replace
from pathlib import Path

from espia.ebpf.btf import Btf
from espia.ebpf.compile import compile_program
from espia.ebpf.compile_cache import CompileCache, cache_path
from espia.ebpf.object import BpfObject
from espia.errors import LoadError, UsageError
from espia.gadget.schema import find_tracer
from espia.gadget.spec import DESCRIPTION, OBJECT, SOURCE, GadgetSpec

CATEGORY = "run"
# Program kinds (SEC() prefixes) a user gadget may have: those espia attaches by itself.
SUPPORTED_SECTIONS = (
    "tracepoint/",
    "tp/",
    "raw_tracepoint/",
    "raw_tp/",
    "cgroup_skb/ingress",
    "cgroup_skb/egress",
)
# Bounds on what an untrusted object may make the kernel allocate.
MAX_RING_BYTES = 256 << 20
MAX_MAP_BYTES = 64 << 20
_RINGBUF = 27  # BPF_MAP_TYPE_RINGBUF
_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_-]{0,63}")


def vmlinux_dir() -> Path:
    """Where vmlinux.h is (generated on first use): the tree's build/, else a cache."""
    tree = Path(__file__).resolve().parent.parent.parent / "build"
    if (tree / "vmlinux.h").exists():
        return tree
    return Path(tempfile.gettempdir()) / "espia-vmlinux"


WORKDIR_PREFIX = "espia-run-"


def workdir(stack: ExitStack) -> Path:
    """A private directory for this run's object, removed by `stack`; named after this
    process, so that those a killed espia left (a SIGKILL runs no cleanup) are removed
    by the next run, once their process is gone."""
    _remove_orphans()
    work = Path(tempfile.mkdtemp(prefix=f"{WORKDIR_PREFIX}{os.getpid()}-"))
    stack.callback(shutil.rmtree, work, ignore_errors=True)
    return work


def _remove_orphans() -> None:
    for old in Path(tempfile.gettempdir()).glob(f"{WORKDIR_PREFIX}*-*"):
        pid = old.name.removeprefix(WORKDIR_PREFIX).partition("-")[0]
        with contextlib.suppress(OSError):
            mine = old.stat().st_uid == os.getuid()
            if mine and pid.isdigit() and not Path(f"/proc/{pid}").exists():
                shutil.rmtree(old, ignore_errors=True)


def open_gadget(
    path: str | os.PathLike[str],
    stack: ExitStack,
    cache_dir: str | os.PathLike[str] | None = None,
    cached: bool = True,
) -> GadgetSpec:
    """The spec of the gadget at `path`, built (through the compile cache in `cache_dir`,
    default espia.ebpf.compile_cache.cache_path(), unless not `cached`) and checked in a
    directory that `stack` removes; a UsageError for a path that is no gadget, a
    BuildError or LoadError for one that does not build or may not run."""
    given = Path(path)
    yaml_folder: Path | None = None
    if given.is_dir():
        if (given / DESCRIPTION).is_file():
            yaml_folder = given
        source = given / SOURCE if (given / SOURCE).is_file() else given / OBJECT
        if not source.is_file():
            raise UsageError(f"run {given}: the folder has neither {SOURCE} nor {OBJECT}")
        name = given.resolve().name
    elif given.is_file() and given.name.endswith((".bpf.c", ".bpf.o")):
        source = given
        name = given.name[: -len(".bpf.c")]
    elif given.exists():
        raise UsageError(f"run {given}: expected a .bpf.c or .bpf.o file, or a gadget folder")
    else:
        raise UsageError(f"run {given}: no such file or folder")
    built = workdir(stack) / f"{name}.bpf.o"
    if source.name.endswith(".c") and cached:
        CompileCache(cache_path(cache_dir)).build(source, built, vmlinux_dir())
    elif source.name.endswith(".c"):
        compile_program(source, built, vmlinux_dir())
    else:
        shutil.copyfile(source, built)
    spec = GadgetSpec.from_folder(yaml_folder) if yaml_folder else None
    return checked(spec, source.parent, name, built)


def checked(spec: GadgetSpec | None, folder: Path, name: str, built: Path) -> GadgetSpec:
    """The spec of the object `built` (refused if it may not run here), with gadget.yaml's
    `spec` if there is one; `folder` and `name` describe it otherwise."""
    name = spec.name if spec else name
    if not _NAME.fullmatch(name):
        raise UsageError(
            f"run {folder}: gadget name {name!r} must be a letter then up to 63 letters, "
            "digits, - or _"
        )
    with BpfObject.open(built) as obj:
        check_object(obj, str(built.name))
        join = spec.join if spec else default_join(obj.btf, str(built.name))
    if spec is None:
        spec = GadgetSpec(name=name, category=CATEGORY, description="", folder=folder)
    return replace(spec, name=name, category=CATEGORY, join=join, built=built)


def check_object(obj: BpfObject, source: str) -> None:
    """Refuses programs espia cannot attach by itself and maps larger than the bounds."""
    if not obj.programs:
        raise LoadError(f"read {source}: no program (a function with a SEC() name)")
    for program in obj.programs:
        if not program.section.startswith(SUPPORTED_SECTIONS):
            kinds = ", ".join(s.rstrip("/") for s in SUPPORTED_SECTIONS)
            raise LoadError(
                f"read {source}: program {program.name} is of kind SEC({program.section!r}), "
                f"which espia does not run (supported: {kinds})"
            )
    for map_ in obj.maps.values():
        if map_.type == _RINGBUF:
            size, bound = map_.max_entries, MAX_RING_BYTES
        else:
            size, bound = map_.max_entries * (map_.key_size + map_.value_size), MAX_MAP_BYTES
        if size > bound:
            raise LoadError(
                f"read {source}: map {map_.name} would take {size} bytes (at most {bound})"
            )


def default_join(btf: Btf, source: str) -> str | None:
    """The member that ties events to containers when no gadget.yaml names one."""
    tracer = find_tracer(btf, source)
    leaves = btf.flatten(tracer.struct_id)
    for typedef in ("gadget_mntns_id", "gadget_netns_id"):
        for leaf in leaves:
            if typedef in leaf.typedefs:
                return leaf.name
    return None
