"""What used to show nothing and say nothing now says why, in one line."""

from __future__ import annotations

import pytest
from support.workloads import espia, unique

from tests.cli.test_privileges import SYS_PTRACE, as_nobody


@pytest.mark.parametrize(
    ("flags", "said"),
    [
        (
            ["-p", "1234"],
            "-p 1234 yet: waiting for one to start; -p is the pod name here: "
            "use -F pid:1234 for a process",
        ),
        (["-c", "nosuchname"], "-c nosuchname yet: waiting for one to start"),
        (["-n", "nosuchns", "-p", "a,b"], "-n nosuchns -p a,b yet: waiting for one to start"),
        (
            ["-l", "app in (nosuch1,nosuch2)"],
            "-l 'app in (nosuch1,nosuch2)' yet: waiting for one to start",
        ),
    ],
)
def test_a_selector_that_matches_no_container_says_so_and_keeps_running(flags, said):
    result = espia("trace", "open", *flags, "-t", "1", "-F", f"comm:{unique('x')[:15]}")
    assert result.returncode == 0, result.stderr
    # (a runtime of the host that restarts meanwhile says so in lines of its own)
    said_lines = [line for line in result.stderr.splitlines() if "no container" in line]
    assert said_lines == [f"espia: warning: no container matches {said}"]
    assert result.stdout.splitlines()[0].split()[-1] == "PATH"  # it ran to its timeout


def test_a_runtime_socket_given_alone_that_does_not_answer_is_a_warning(tmp_path):
    missing = tmp_path / "missing.sock"
    result = espia(
        "trace", "open", "--runtime-socket", f"docker={missing}", "-t", "1", "-F", "comm:nomatch"
    )
    assert result.returncode == 0, result.stderr
    about_docker = [line for line in result.stderr.splitlines() if "docker" in line]
    assert about_docker == [
        f"espia: warning: docker: cannot connect to {missing}: no such file or directory "
        "(its containers are shown by id)"
    ]


def test_list_containers_without_a_runtime_says_so(tmp_path):
    missing = tmp_path / "missing.sock"
    result = espia(
        "list-containers", "--runtimes", "docker", "--runtime-socket", f"docker={missing}"
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[0].split()[:2] == [
        "RUNTIME.RUNTIMENAME",
        "RUNTIME.CONTAINERNAME",
    ]
    assert len(result.stdout.splitlines()) == 1
    assert result.stderr.splitlines()[-1] == (
        "espia: warning: no container runtime answers here: nothing to list "
        "(start one, or give its socket with --runtime-socket NAME=PATH)"
    )


def test_list_containers_as_non_root_says_it_in_one_line():
    result = as_nobody({SYS_PTRACE}, "list-containers")
    assert result.returncode == 1, result.stdout
    assert result.stdout == ""
    errors = [line for line in result.stderr.splitlines() if "espia: warning: " not in line]
    assert errors == [
        "espia: list containers: no container runtime answers: their sockets are root's, "
        "run espia as root (or with CAP_DAC_OVERRIDE)"
    ]
