"""Builds gadgets: C source to a CO-RE eBPF object, with clang, against vmlinux.h.

vmlinux.h is generated from the running kernel's BTF with bpftool (never
committed: it describes one kernel); CO-RE relocations then make the object
run on other kernels.  Used by `make` for the built-in gadgets and by
`espia run` for a user's `.bpf.c`, so both build the same way.

    python -m espia.ebpf.compile [--vmlinux-dir DIR] SOURCE.bpf.c...
"""

from __future__ import annotations

import argparse
import platform
import shutil
import subprocess
import sys
from pathlib import Path

from espia.ebpf.features import VMLINUX_BTF
from espia.errors import BuildError, EspiaError

INCLUDE_DIR = Path(__file__).resolve().parent.parent / "gadgets" / "include"
_ARCH = {
    "x86_64": "x86",
    "aarch64": "arm64",
    "arm64": "arm64",
    "s390x": "s390",
    "ppc64le": "powerpc",
}


def _tool(name: str, package: str) -> str:
    path = shutil.which(name)
    if path is None:
        raise BuildError(f"build gadgets: {name} is not installed (install {package})")
    return path


def vmlinux_header(directory: Path) -> Path:
    """`directory`/vmlinux.h, generated from this kernel's BTF unless it is there."""
    header = directory / "vmlinux.h"
    if header.exists() and header.stat().st_size:
        return header
    if not VMLINUX_BTF.exists():
        raise BuildError(f"generate vmlinux.h: no kernel BTF at {VMLINUX_BTF}")
    directory.mkdir(parents=True, exist_ok=True)
    bpftool = _tool("bpftool", "bpftool")
    result = subprocess.run(
        [bpftool, "btf", "dump", "file", str(VMLINUX_BTF), "format", "c"],
        capture_output=True,
        check=False,
    )
    if result.returncode:
        raise BuildError(f"generate vmlinux.h: {result.stderr.decode().strip()}")
    partial = header.with_suffix(".h.partial")
    partial.write_bytes(result.stdout)
    partial.replace(header)
    return header


def clang_flags(header_dir: Path) -> list[str]:
    """The compiler's flags for a gadget (vmlinux.h in `header_dir`)."""
    arch = _ARCH.get(platform.machine(), platform.machine())
    return [
        "-g",
        "-O2",
        "-target",
        "bpf",
        f"-D__TARGET_ARCH_{arch}",
        "-Wall",
        "-Wno-unused-function",
        "-I",
        str(header_dir),
        "-I",
        str(INCLUDE_DIR),
    ]


def clang_command(source: Path, output: Path, header_dir: Path) -> list[str]:
    """The compiler's command line for `source`."""
    clang = _tool("clang", "clang")
    return [clang, *clang_flags(header_dir), "-c", str(source), "-o", str(output)]


def run_clang(command: list[str], source: Path) -> None:
    """Runs `command`; a BuildError carries the compiler's message."""
    result = subprocess.run(command, capture_output=True, text=True, check=False)
    if result.returncode:
        message = result.stderr.strip() or f"clang exited with {result.returncode}"
        raise BuildError(f"compile {source}:\n{message}")


def compile_program(source: Path, output: Path, vmlinux_dir: Path) -> Path:
    """Compiles `source` into `output`; a BuildError carries the compiler's message."""
    header = vmlinux_header(vmlinux_dir)
    run_clang(clang_command(source, output, header.parent), source)
    return output


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m espia.ebpf.compile")
    parser.add_argument("--vmlinux-dir", type=Path, default=Path("build"))
    parser.add_argument("sources", nargs="+", type=Path)
    args = parser.parse_args(argv)
    try:
        for source in args.sources:
            output = source.with_name(source.name.removesuffix(".c") + ".o")
            compile_program(source, output, args.vmlinux_dir)
            print(f"  BPF  {output}")
    except EspiaError as exc:
        print(f"espia: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
