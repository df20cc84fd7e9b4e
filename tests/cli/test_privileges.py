"""What each gadget needs when espia does not run as root: derived, then checked for real.

The set comes from the kinds of program in the gadget's object (and the
container tracker's, which every gadget runs); these tests run each gadget as
an unprivileged user holding exactly that set, then with each capability of it
taken away, which must be one line naming it.
"""

from __future__ import annotations

import subprocess

import pytest
from support.workloads import ROOT

from espia.ebpf import features
from espia.ebpf.features import Capability
from espia.ebpf.object import BpfObject
from espia.gadget import registry

BPF, PERFMON, NET_ADMIN, DAC_READ_SEARCH, SYS_PTRACE = (
    Capability.CAP_BPF,
    Capability.CAP_PERFMON,
    Capability.CAP_NET_ADMIN,
    Capability.CAP_DAC_READ_SEARCH,
    Capability.CAP_SYS_PTRACE,
)
# What the README documents, per gadget (the container tracker's needs included).
TRACING = {BPF, PERFMON, DAC_READ_SEARCH, SYS_PTRACE}
DOCUMENTED = {
    ("trace", "exec"): TRACING,
    ("trace", "open"): TRACING,
    ("trace", "tcp"): TRACING,
    ("trace", "dns"): TRACING | {NET_ADMIN},
    ("snapshot", "socket"): TRACING,
    ("snapshot", "process"): TRACING,
    ("profile", "cpu"): TRACING,
}
NOBODY = 65534


def sections(category: str, name: str) -> list[str]:
    spec = registry.builtin(category, name)
    if spec.data_source:
        return []
    with BpfObject.open(spec.require_object()) as obj:
        return [p.section for p in obj.programs]


def tracker_sections() -> list[str]:
    from espia.containers.collection import TRACKER_DIR

    with BpfObject.open(TRACKER_DIR / "program.bpf.o") as obj:
        return [p.section for p in obj.programs]


def as_nobody(caps: set[Capability], *args: str) -> subprocess.CompletedProcess:
    """espia args... as an unprivileged user holding exactly `caps`.

    Debian's python3 runs it: the one the tests run under may sit where that user
    cannot read.  It has no grpc, so the gRPC runtimes are left out (--runtimes).
    """
    names = ",".join(f"+{cap.name.removeprefix('CAP_').lower()}" for cap in caps) or "+"
    wanted = f"-all,{names}" if caps else "-all"
    return subprocess.run(
        [
            "setpriv",
            f"--reuid={NOBODY}",
            f"--regid={NOBODY}",
            "--clear-groups",
            f"--inh-caps={wanted}",
            f"--ambient-caps={wanted}",
            f"--bounding-set={wanted}",
            "/usr/bin/python3",
            "-m",
            "espia.cli.main",
            *args,
            "--runtimes",
            "docker,podman",
        ],
        capture_output=True,
        text=True,
        timeout=60,
        env={"PYTHONPATH": str(ROOT), "PATH": "/usr/sbin:/usr/bin:/sbin:/bin"},
        cwd="/",
    )


@pytest.mark.parametrize("gadget", list(DOCUMENTED))
def test_the_needed_set_is_derived_from_the_programs(gadget, monkeypatch):
    # As an unprivileged user sees it: tracefs is root's only.
    monkeypatch.setattr(features, "_tracefs_readable", lambda: False)
    derived = set(features.needed_capabilities(sections(*gadget)))
    derived |= set(features.needed_capabilities(tracker_sections()))
    assert derived == DOCUMENTED[gadget]


@pytest.mark.parametrize("gadget", list(DOCUMENTED))
def test_each_gadget_runs_with_exactly_its_set(gadget):
    timeout = [] if gadget[0] == "snapshot" else ["-t", "1", "-F", "comm:nomatch"]
    result = as_nobody(DOCUMENTED[gadget], *gadget, *timeout)
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr
    assert "PID" in result.stdout.splitlines()[0]


@pytest.mark.parametrize(
    ("gadget", "missing"),
    [(gadget, cap) for gadget, needed in DOCUMENTED.items() for cap in sorted(needed)],
)
def test_a_missing_capability_is_named_in_one_line(gadget, missing):
    timeout = [] if gadget[0] == "snapshot" else ["-t", "1"]  # a snapshot refuses -t
    result = as_nobody(DOCUMENTED[gadget] - {missing}, *gadget, *timeout)
    assert result.returncode == 1, result.stdout
    # Runtimes this user cannot reach are warnings; the error is one line.
    lines = [line for line in result.stderr.splitlines() if "espia: warning: " not in line]
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("espia: ") and f"needs {missing.name} (" in lines[0]
    assert "run espia as root, or grant it" in lines[0]
