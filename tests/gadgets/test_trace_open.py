"""trace open against real processes: flags, modes, errors, threads, every syscall."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest
from support.bpf import loaded_programs
from support.workloads import comm_name, run_python

# The two kernel paths of trace open: arguments read at exit from the task's
# registers (bpf_task_pt_regs, 5.15), or recorded at entry (older kernels).
PATHS = {
    "exit-only": (),
    "entry-and-exit": ("task_pt_regs", "get_current_task_btf"),
}


@pytest.fixture(params=list(PATHS))
def without(request):
    return PATHS[request.param]


def test_opens_have_exact_fd_flags_mode_and_error(recorder, tmp_path, without):
    created = tmp_path / "created"
    missing = tmp_path / "missing" / "file"
    body = f"""
fd = os.open({str(created)!r}, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o640)
print(fd)
try:
    os.open({str(missing)!r}, os.O_RDONLY)
except FileNotFoundError:
    print("ENOENT")
fd2 = os.open({str(created)!r}, os.O_RDWR | os.O_APPEND | os.O_CLOEXEC)
print(fd2)
"""
    events, stdout, comm = recorder.python("open", body, without_helpers=without)
    fd, error, fd2 = stdout.split()
    assert error == "ENOENT"
    assert [(e.path, e.fd, e.err) for e in events] == [
        (str(created), int(fd), 0),
        (str(missing), -1, 2),
        (str(created), int(fd2), 0),
    ]
    first, failed, second = events
    # Python's os.open adds O_CLOEXEC (PEP 446): the kernel saw it, so do we.
    assert first.get("flags") == "O_WRONLY|O_CREAT|O_TRUNC|O_CLOEXEC"
    assert first.get("mode") == "0640"
    assert failed.get("flags") == "O_RDONLY|O_CLOEXEC"
    assert failed.get("errname") == "ENOENT"
    assert second.get("flags") == "O_RDWR|O_APPEND|O_CLOEXEC"
    assert {e.comm for e in events} == {comm}
    assert len({e.pid for e in events}) == 1
    assert all(e.pid == e.tid for e in events)


def test_open_creat_openat_and_openat2_are_all_seen(recorder, tmp_path, without):
    body = f"""
import ctypes, struct
libc = ctypes.CDLL(None, use_errno=True)
base = {str(tmp_path)!r}
print(libc.syscall(2, (base + "/via-open").encode(), os.O_RDONLY | os.O_CREAT, 0o600))
print(libc.creat((base + "/via-creat").encode(), 0o644))
print(libc.openat(-100, (base + "/via-openat").encode(), os.O_WRONLY | os.O_CREAT, 0o600))
how = struct.pack("QQQ", os.O_RDWR | os.O_CREAT, 0o600, 0)
print(libc.syscall(437, -100, (base + "/via-openat2").encode(), how, len(how)))
"""
    events, stdout, _comm = recorder.python("open", body, without_helpers=without)
    fds = [int(x) for x in stdout.split()]
    assert all(fd >= 0 for fd in fds)
    seen = [(os.path.basename(e.path), e.fd, e.get("flags"), e.get("mode")) for e in events]
    assert seen == [
        ("via-open", fds[0], "O_RDONLY|O_CREAT", "0600"),
        ("via-creat", fds[1], "O_WRONLY|O_CREAT|O_TRUNC", "0644"),
        ("via-openat", fds[2], "O_WRONLY|O_CREAT", "0600"),
        ("via-openat2", fds[3], "O_RDWR|O_CREAT", "0600"),
    ]


def test_opens_from_several_threads_carry_their_thread_ids(recorder, tmp_path, without):
    body = f"""
import threading
tids = {{}}
def work(i):
    tids[i] = threading.get_native_id()
    for j in range(5):
        try:
            os.open({str(tmp_path)!r} + f"/t{{i}}-{{j}}", os.O_RDONLY)
        except FileNotFoundError:
            pass
threads = [threading.Thread(target=work, args=(i,)) for i in range(4)]
for t in threads: t.start()
for t in threads: t.join()
print(os.getpid(), *[tids[i] for i in range(4)])
"""
    events, stdout, _comm = recorder.python("open", body, without_helpers=without)
    pid, *tids = (int(x) for x in stdout.split())
    mine = [e for e in events if os.path.dirname(e.path) == str(tmp_path)]
    assert len(mine) == 20
    assert {e.pid for e in mine} == {pid}
    for i, tid in enumerate(tids):
        paths = sorted(os.path.basename(e.path) for e in mine if e.tid == tid)
        assert paths == [f"t{i}-{j}" for j in range(5)]
        assert all(e.err == 2 and e.fd == -1 for e in mine if e.tid == tid)


def test_kernel_side_comm_filter_drops_other_processes(recorder, tmp_path, without):
    comm, other = comm_name(), comm_name()
    body = f"""
for i in range(50):
    try:
        os.open({str(tmp_path)!r} + "/nope", os.O_RDONLY)
    except FileNotFoundError:
        pass
"""

    def workload():
        run_python(comm, body)
        run_python(other, body)

    events = recorder("open", workload, filter=f"comm:{comm}", without_helpers=without)
    assert len(events) == 50
    assert {e.comm for e in events} == {comm}


@pytest.mark.parametrize(
    ("path", "attached"),
    [
        ("exit-only", {"exit_open", "exit_creat", "exit_openat", "exit_openat2"}),
        (
            "entry-and-exit",
            {
                f"{side}_{call}"
                for side in ("enter", "exit")
                for call in ("open", "creat", "openat", "openat2")
            },
        ),
    ],
)
def test_the_fallback_programs_load_only_without_the_helper(path, attached):
    import espia

    with espia.trace("open", filter="comm:nomatch", without_helpers=PATHS[path]):
        names = loaded_programs()
    assert attached <= names
    assert not ({"enter_open", "enter_openat"} & names) or path == "entry-and-exit"


# The bounds of trace open's program.bpf.c.
PATH_MAX = 4096  # NUL included: 4095 bytes is the longest path the kernel accepts
FULLPATH_SIZE = 1024


def opened_in_child(
    recorder, body: str, filter: str = "", without: tuple[str, ...] = ()
) -> tuple[list, str]:
    """Runs `body` in a child with a fresh comm; (its events under `filter` too, its stdout)."""
    comm = comm_name()
    out: list[str] = []
    events = recorder(
        "open",
        lambda: out.append(run_python(comm, body).stdout),
        filter=",".join(term for term in (f"comm:{comm}", filter) if term),
        without_helpers=without,
    )
    return events, out[0]


@pytest.mark.parametrize("length", [PATH_MAX - 2, PATH_MAX - 1, PATH_MAX])
def test_path_at_its_bound_is_whole_and_beyond_it_cut_with_a_marker(recorder, tmp_path, length):
    target = tmp_path / "secret"
    target.write_text("")
    path = "/" * (length - len(str(target))) + str(target)
    body = f"""
try:
    print(os.open({path!r}, os.O_RDONLY))
except OSError as exc:
    print(-exc.errno)
"""
    # The filter a user would write for that file sees the open (if the path is whole).
    events, stdout = opened_in_child(
        recorder, body, filter="path:~secret" if length < PATH_MAX else ""
    )
    assert len(events) == 1
    event = events[0]
    if length < PATH_MAX:
        assert (event.fd, event.err) == (int(stdout), 0)
        assert (event.path, event.path_truncated) == (path, False)
        assert (event.fullpath, event.fullpath_truncated) == (str(target), False)
    else:
        assert int(stdout) == -36 and event.get("errname") == "ENAMETOOLONG"
        assert event.path_truncated is True
        assert event.path == path[: PATH_MAX - 1] + " [...]"
        assert event.fullpath == ""


@pytest.mark.parametrize("length", [FULLPATH_SIZE - 1, FULLPATH_SIZE, FULLPATH_SIZE + 1])
def test_fullpath_at_its_bound_is_whole_and_beyond_it_cut_with_a_marker(recorder, tmp_path, length):
    directory = str(tmp_path)
    while len(directory) < length - 2:
        directory += "/" + "d" * min(200, length - 2 - len(directory) - 1)
    target = Path(directory) / ("f" * (length - len(directory) - 1))
    assert len(str(target)) == length
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text("")
    body = f"print(os.open({str(target)!r}, os.O_RDONLY))"
    events, stdout = opened_in_child(recorder, body)
    assert [e.fd for e in events] == [int(stdout)]
    event = events[0]
    assert event.path == str(target)
    if length <= FULLPATH_SIZE:
        assert (event.fullpath, event.fullpath_truncated) == (str(target), False)
    else:
        # Whole components nearest the file are kept; the marker stands for the rest.
        assert event.fullpath_truncated is True
        assert event.fullpath.startswith("[...]/")
        assert str(target).endswith(event.fullpath.removeprefix("[...]"))


# Two threads: one flips the path buffer between two names as fast as it can, the
# other opens it and asks the kernel (/proc/self/fd) which file it got.  In C, so
# that the flips are fast enough to land inside the opens on a busy machine.
SWAPPER = r"""
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <unistd.h>

static char buf[4096];
static const char *names[2];
static volatile int done;

static void *flip(void *unused)
{
	size_t n = strlen(names[0]) + 1;
	for (int i = 0; !done; i ^= 1)
		memcpy(buf, names[i], n);
	return unused;
}

int main(int argc, char **argv)
{
	char link[64], target[4096];
	pthread_t thread;

	prctl(PR_SET_NAME, argv[1], 0, 0, 0);
	names[0] = argv[2];
	names[1] = argv[3];
	strcpy(buf, names[0]);
	pthread_create(&thread, NULL, flip, NULL);
	for (int i = 0; i < atoi(argv[4]); i++) {
		int fd = open(buf, O_RDONLY);
		ssize_t len;

		if (fd < 0) {
			printf("-1 -\n"); /* a torn name: no such file */
			continue;
		}
		snprintf(link, sizeof(link), "/proc/self/fd/%d", fd);
		len = readlink(link, target, sizeof(target) - 1);
		target[len < 0 ? 0 : len] = 0;
		printf("%d %s\n", fd, target);
		close(fd);
	}
	done = 1;
	pthread_join(thread, NULL);
	return 0;
}
"""


def test_fullpath_is_the_file_opened_even_when_another_thread_rewrites_the_path(
    recorder, tmp_path, without
):
    """PATH (read from the task's memory at exit) can name the other file; FULLPATH
    (from the descriptor, in the kernel) always names the file really opened."""
    first, second = tmp_path / "file-one", tmp_path / "file-two"
    first.write_text("")
    second.write_text("")
    source = tmp_path / "swapper.c"
    source.write_text(SWAPPER)
    binary = tmp_path / "swapper"
    subprocess.run(["clang", "-O2", "-pthread", "-o", binary, source], check=True)
    comm = comm_name()
    out: list[str] = []

    def workload():
        argv = [binary, comm, first, second, "3000"]
        out.append(subprocess.run(argv, capture_output=True, text=True, check=True).stdout)

    swapped = 0
    # The race is real: PATH names the other file for some opens; a round on a busy
    # machine can miss it, so a few rounds are allowed.
    for _ in range(5):
        out.clear()
        events = recorder(
            "open", workload, filter=f"comm:{comm},path:~file-", without_helpers=without
        )
        truth = [line.split(" ", 1)[1] for line in out[0].splitlines() if line[0] != "-"]
        opens = [e for e in events if e.fd >= 0]
        assert len(opens) == len(truth) > 2000
        assert [e.fullpath for e in opens] == truth
        swapped += sum(e.path != e.fullpath for e in opens)
        if swapped:
            break
    assert swapped > 0
