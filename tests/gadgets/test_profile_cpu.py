"""profile cpu: a C program with a known hot function, sampled by cpu-clock perf events.

The program is compiled here (gcc -O0 -fno-omit-frame-pointer: user stacks
are walked by frame pointers) under a unique name, so its comm isolates it
in the kernel; what espia shows is checked by function name.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import time
import uuid
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from support.workloads import EspiaCli, comm_name, espia, require

# spin: espia_hot_loop takes ~10x the time of espia_cold_path (both called from main).
# read: espia_read_zero reads /dev/zero through an inline syscall, so that the
# sampled user frame is the function itself (libc's read() has no frame pointer).
PROGRAM = r"""
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <time.h>
volatile unsigned long sink;
static char buffer[1 << 20];
__attribute__((noinline)) void espia_hot_loop(unsigned long n)
{ for (unsigned long i = 0; i < n; i++) sink += i * i; }
__attribute__((noinline)) void espia_cold_path(unsigned long n)
{ for (unsigned long i = 0; i < n; i++) sink += i; }
__attribute__((noinline)) void espia_read_zero(int fd)
{
    long ret;
    __asm__ volatile ("syscall" : "=a"(ret) : "0"(0L), "D"((long)fd), "S"(buffer),
                      "d"((long)sizeof(buffer)) : "rcx", "r11", "memory");
    sink += ret;
}
__attribute__((noinline)) void espia_renamed_function_XXXXXXXXXXXXXXXXXXXXXXXXXXXX(unsigned long n)
{ for (unsigned long i = 0; i < n; i++) sink += i * 3; }
int main(int argc, char **argv)
{
    double seconds = atof(argv[2]);
    struct timespec start, now;
    int fd = open("/dev/zero", O_RDONLY);
    clock_gettime(CLOCK_MONOTONIC, &start);
    do {
        if (!strcmp(argv[1], "spin")) {
            espia_hot_loop(2000000);
            espia_cold_path(200000);
        } else if (!strcmp(argv[1], "read")) {
            espia_read_zero(fd);
        } else {
            espia_renamed_function_XXXXXXXXXXXXXXXXXXXXXXXXXXXX(2000000);
        }
        clock_gettime(CLOCK_MONOTONIC, &now);
    } while (now.tv_sec - start.tv_sec + (now.tv_nsec - start.tv_nsec) / 1e9 < seconds);
    return 0;
}
"""
PLACEHOLDER = b"espia_renamed_function_XXXXXXXXXXXXXXXXXXXXXXXXXXXX"
# The same length: written over the placeholder in the symbol table's strings.
HOSTILE = b'ev;l<b>"&\x1b[31m\\x1b\xff</svg>'.ljust(len(PLACEHOLDER), b"_")


@pytest.fixture(scope="module")
def binary(tmp_path_factory) -> Path:
    require("gcc")
    folder = tmp_path_factory.mktemp("profile")
    (folder / "hot.c").write_text(PROGRAM)
    path = folder / "hot"
    subprocess.run(
        ["gcc", "-O0", "-fno-omit-frame-pointer", "-o", str(path), str(folder / "hot.c")],
        check=True,
    )
    return path


def workload(binary: Path, mode: str, seconds: float) -> tuple[subprocess.Popen, str]:
    """The program under a unique name (its comm), running `mode` for `seconds`."""
    comm = f"es{uuid.uuid4().hex[:10]}"
    copy = binary.with_name(comm)
    shutil.copy(binary, copy)
    return subprocess.Popen([str(copy), mode, str(seconds)]), comm


def profile(binary: Path, mode: str, *flags: str) -> tuple[str, int, str]:
    """(espia's stdout, the workload's pid, its comm): 3 s of its run profiled (it runs
    longer than espia takes to start on a loaded machine, and is killed after)."""
    proc, comm = workload(binary, mode, 60)
    try:
        done = espia("profile", "cpu", "-F", f"comm:{comm}", "-t", "3", *flags)
    finally:
        proc.kill()
        proc.wait(timeout=30)
    assert done.returncode == 0, done.stderr
    return done.stdout, proc.pid, comm


def test_hot_function_leads_the_profile_by_name(binary):
    out, pid, comm = profile(binary, "spin", "-o", "json")
    stacks = json.loads(out)
    assert stacks, "no samples"
    first = stacks[0]
    assert (first["pid"], first["comm"]) == (pid, comm)
    # Root first: ... main, then the hot function, the leaf (no kernel frames: it spins).
    assert first["user_stack"][-2:] == ["main", "espia_hot_loop"]
    assert first["kernel_stack"] == []
    total = sum(s["samples"] for s in stacks)
    assert first["samples"] / total >= 0.6
    assert {s["pid"] for s in stacks} == {pid}  # the comm filter is the kernel's
    # One thread, one CPU at a time: at most 49 samples a second of the 3.
    assert total <= 49 * 3.5
    cold = [s for s in stacks if s["user_stack"][-1:] == ["espia_cold_path"]]
    assert all(s["user_stack"][-2] == "main" for s in cold)


def test_table_shows_the_hot_stack_first_leaf_first(binary):
    out, pid, comm = profile(binary, "spin")
    lines = out.splitlines()
    assert lines[0].split() == ["SAMPLES", "SHARE", "PID", "COMM", "CONTAINER"]
    _, share, shown_pid, shown_comm = lines[1].split()
    assert (int(shown_pid), shown_comm) == (pid, comm)
    assert share.endswith("%") and float(share[:-1]) >= 60
    assert [lines[2].strip(), lines[3].strip()] == ["espia_hot_loop", "main"]
    assert lines[-1].startswith(
        f"{sum(int(x.split()[0]) for x in lines if x[:8].strip().isdigit())} samples in "
    )


def test_kernel_frames_are_above_the_user_frame_that_made_the_syscall(binary):
    out, _, comm = profile(binary, "read", "-o", "folded")
    lines = out.splitlines()
    assert lines
    for line in lines:
        stack, _, count = line.rpartition(" ")
        assert int(count) > 0
        assert stack.startswith(f"{comm};")
    reads = [line for line in lines if ";main;espia_read_zero;" in line]
    kernel = [line for line in reads if "vfs_read_[k];" in line]
    total = sum(int(line.rpartition(" ")[2]) for line in lines)
    assert sum(int(line.rpartition(" ")[2]) for line in kernel) / total >= 0.5
    # Kernel frames come after (above) every user frame.
    for line in kernel:
        frames = line.rpartition(" ")[0].split(";")
        first_kernel = next(i for i, f in enumerate(frames) if f.endswith("_[k]"))
        assert all(f.endswith("_[k]") for f in frames[first_kernel:])
        assert frames[first_kernel - 1] == "espia_read_zero"


def test_hostile_symbol_names_are_escaped_in_every_output(binary, tmp_path):
    data = binary.read_bytes()
    assert data.count(PLACEHOLDER) == 1  # in .strtab only: the name is not used at run time
    evil = tmp_path / "evil"
    evil.write_bytes(data.replace(PLACEHOLDER, HOSTILE))
    evil.chmod(0o755)
    shown = 'ev\\x3bl<b>"&\\x1b[31m\\\\x1b\\xff</svg>'
    shown += "_" * (len(PLACEHOLDER) - len(HOSTILE.rstrip(b"_")))
    svg = tmp_path / "evil.svg"
    out, _, _ = profile(evil, "other", "-o", "folded", "--svg", str(svg))
    assert f";main;{shown} " in out  # one frame: its ; escaped, as are ESC, \ and \xff
    assert "\x1b" not in out
    tree = ET.parse(svg)  # well-formed: no name broke out of its text
    names = {g.get("data-name") for g in tree.iter("{http://www.w3.org/2000/svg}g")}
    assert shown in names
    assert not list(tree.iter("{http://www.w3.org/2000/svg}svg"))[1:]  # no injected element


def _screenshot(page: str, png: Path) -> list[tuple[int, int, int]]:
    from PIL import Image

    subprocess.run(
        [
            "chromium",
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--hide-scrollbars",
            "--window-size=1200,400",
            f"--screenshot={png}",
            page,
        ],
        capture_output=True,
        check=True,
        timeout=120,
    )
    with Image.open(png) as image:
        raw = image.convert("RGB").tobytes()
    return [tuple(raw[i : i + 3]) for i in range(0, len(raw), 3)]


def test_svg_flame_graph_renders_in_chromium_with_the_hot_frame(binary, tmp_path):
    require("chromium")
    svg = tmp_path / "profile.svg"
    profile(binary, "spin", "--svg", str(svg))
    tree = ET.parse(svg)
    texts = [t.text or "" for t in tree.iter("{http://www.w3.org/2000/svg}text")]
    assert "espia_hot_loop" in texts
    plain = _screenshot(svg.as_uri(), tmp_path / "plain.png")
    assert len(set(plain)) > 10  # drawn: not a blank page
    magenta = (230, 0, 230)
    assert magenta not in plain
    # The page's own search (from the address) colours the frames that match.
    found = _screenshot(svg.as_uri() + "#search=^espia_hot_loop$", tmp_path / "found.png")
    width = 1200
    rows = [found[i : i + width] for i in range(0, len(found), width)]
    widest = max(sum(1 for pixel in row if pixel == magenta) for row in rows)
    assert widest >= 0.6 * (width - 20)  # the hot frame spans most of the graph


def test_bad_input_is_one_line_and_exit_2():
    for flags, message in [
        (["--frequency", "0"], "--frequency 0: must be 1 to 1000"),
        (["--frequency", "5000"], "--frequency 5000: must be 1 to 1000"),
        (["--frequency", "many"], "--frequency 'many' is not a whole number"),
        (["--duration", "-1"], "is negative"),
        (["-t", "-1"], "is negative"),
        (["--max-rows", "0"], "--max-rows 0: must be 1 to"),
        (["-o", "columns=pid"], "a profile's table has no columns to pick"),
        (["-o", "xml"], "unknown mode"),
        (["--svg="], "--svg: the path is empty"),  # before: no SVG, exit 0
    ]:
        done = espia("profile", "cpu", *flags)
        assert done.returncode == 2, (flags, done.stderr)
        assert done.stderr.count("\n") == 1 and message in done.stderr, (flags, done.stderr)
        assert done.stderr.startswith("espia: ")


def test_api_checks_the_frequency_too():
    from espia.engine.runtime import GadgetRef, LocalRuntime
    from espia.engine.source import RunOptions
    from espia.errors import UsageError

    for bad in (0, 1001, "49", True):
        with pytest.raises(UsageError, match="frequency"):
            LocalRuntime().run(GadgetRef("profile", "cpu"), RunOptions(params={"frequency": bad}))


def test_help_lists_options_and_fields():
    done = espia("profile", "cpu", "--help")
    assert done.returncode == 0
    for text in ("--frequency", "--svg FILE", "--max-rows", "--duration", "USER_STACK"):
        assert text in done.stdout


def test_ctrl_c_prints_the_profile_and_leaves_nothing_loaded(binary):
    assert sampler_programs() == []
    proc, comm = workload(binary, "spin", 30)
    try:
        cli = EspiaCli(["profile", "cpu", "-F", f"comm:{comm}", "-o", "folded"])
        # Started once the programs are attached: bpftool lists them.
        deadline = time.monotonic() + 20
        while not sampler_programs() and time.monotonic() < deadline:
            time.sleep(0.2)
        time.sleep(2)
        cli.proc.send_signal(2)
        code, lines, stderr = cli.finish()
    finally:
        proc.kill()
        proc.wait()
    assert code == 0, stderr
    assert any(f"{comm};" in line and "espia_hot_loop" in line for line in lines)
    # Ours are gone (other gadgets' programs may be another test's, running meanwhile).
    deadline = time.monotonic() + 5
    while sampler_programs() and time.monotonic() < deadline:
        time.sleep(0.2)
    assert sampler_programs() == []


def sampler_programs() -> list[int]:
    """The ids of the sampler's programs in the kernel."""
    shown = subprocess.run(["bpftool", "-j", "prog", "show"], capture_output=True, check=True)
    return [p["id"] for p in json.loads(shown.stdout or "[]") if p.get("name") == "profile_cpu"]


def test_samples_of_a_container_carry_it_and_the_selector_keeps_only_them(docker, docker_socket):
    from support.workloads import unique

    name = unique("busy")
    runtime = ["--runtimes", "docker", "--runtime-socket", f"docker={docker_socket}"]
    cid = docker.run(name)
    try:
        docker.cli("exec", "--detach", cid, "sh", "-c", "while :; do :; done")
        done = espia("profile", "cpu", "-c", name, "-t", "3", "-o", "json", *runtime)
        assert done.returncode == 0, done.stderr
        stacks = json.loads(done.stdout)
        assert sum(s["samples"] for s in stacks) >= 10
        assert {s["container"] for s in stacks} == {name}
        busy = max(stacks, key=lambda s: s["samples"])
        assert busy["comm"] == "sh" and busy["user_stack"]
        folded = espia("profile", "cpu", "-c", name, "-t", "2", "-o", "folded", *runtime)
        assert folded.returncode == 0, folded.stderr
        assert folded.stdout and all(
            line.startswith(f"{name};sh;") for line in folded.stdout.splitlines()
        )
    finally:
        docker.remove(cid)


LIBRARY = r"""
volatile unsigned long espia_lib_sink;
__attribute__((noinline)) void espia_lib_spin(unsigned long n)
{ for (unsigned long i = 0; i < n; i++) espia_lib_sink += i * 7; }
"""
USES_LIBRARY = r"""
void espia_lib_spin(unsigned long n);
int main(void) { for (;;) espia_lib_spin(1000000); }
"""


def test_a_shared_library_function_is_named_wherever_it_was_loaded(tmp_path):
    require("gcc")
    flags = ["-O0", "-fno-omit-frame-pointer"]
    (tmp_path / "lib.c").write_text(LIBRARY)
    (tmp_path / "main.c").write_text(USES_LIBRARY)
    library = tmp_path / "libespiaspin.so"
    subprocess.run(
        ["gcc", *flags, "-fPIC", "-shared", "-o", str(library), str(tmp_path / "lib.c")], check=True
    )
    comm = f"es{uuid.uuid4().hex[:10]}"
    program = tmp_path / comm
    subprocess.run(
        [
            "gcc",
            *flags,
            "-o",
            str(program),
            str(tmp_path / "main.c"),
            f"-L{tmp_path}",
            "-lespiaspin",
        ],
        check=True,
    )
    proc = subprocess.Popen([str(program)], env={"LD_LIBRARY_PATH": str(tmp_path)})
    try:
        done = espia("profile", "cpu", "-F", f"comm:{comm}", "-t", "3", "-o", "json")
    finally:
        proc.kill()
        proc.wait()
    assert done.returncode == 0, done.stderr
    stacks = json.loads(done.stdout)
    top = max(stacks, key=lambda s: s["samples"])
    # Loaded at a base of its own (ASLR), named from the library's own symbol table.
    assert top["user_stack"][-2:] == ["main", "espia_lib_spin"]


# Two non-PIE programs: both load at the same fixed address, so the second one's
# functions lie where the first one's were.  The first spins until told, then execs
# the second; padding moves the second's hot function onto another of the first's.
EXECS = r"""
#include <unistd.h>
#include <time.h>
volatile unsigned long sink;
#ifdef SECOND
__attribute__((noinline)) void espia_padding(unsigned long n)
{ for (unsigned long i = 0; i < n; i++) sink += i * 7; }
__attribute__((noinline)) void espia_after_exec(unsigned long n)
{ for (unsigned long i = 0; i < n; i++) sink += i * i * i; }
int main(void) { for (;;) espia_after_exec(1000000); }
#else
__attribute__((noinline)) void espia_before_exec(unsigned long n)
{ for (unsigned long i = 0; i < n; i++) sink += i * i; }
int main(int argc, char **argv)
{
    while (access(argv[1], F_OK)) espia_before_exec(1000000);
    execv(argv[2], argv + 2);
    return 1;
}
#endif
"""


def test_a_process_that_execs_is_named_with_the_new_programs_symbols(tmp_path):
    require("gcc")
    (tmp_path / "execs.c").write_text(EXECS)
    first, second = tmp_path / comm_name(), tmp_path / comm_name()
    for program, define in ((first, []), (second, ["-DSECOND"])):
        flags = ["-O0", "-fno-omit-frame-pointer", "-no-pie", *define]
        subprocess.run(["gcc", *flags, "-o", str(program), str(tmp_path / "execs.c")], check=True)
    go = tmp_path / "go"
    proc = subprocess.Popen([str(first), str(go), str(second)])
    try:
        cli = EspiaCli(["profile", "cpu", "-F", f"pid:{proc.pid}", "-t", "6", "-o", "json"])
        time.sleep(3)  # espia samples the first program, then the second one for ~3 s
        go.touch()
        code, lines, stderr = cli.finish(timeout=60)
    finally:
        proc.kill()
        proc.wait()
    assert code == 0, stderr
    stacks = json.loads("\n".join(lines))
    by_comm = {comm: [s for s in stacks if s["comm"] == comm] for comm in (first.name, second.name)}
    assert by_comm[first.name], "espia took over 3 s to start: the first program was not sampled"
    assert max(by_comm[first.name], key=lambda s: s["samples"])["user_stack"][-2:] == [
        "main",
        "espia_before_exec",
    ]
    # Before: the second program's addresses were named from the first one's map
    # ("main;main"), and its libc frames, elsewhere now, as [unknown].
    after = by_comm[second.name]
    top = max(after, key=lambda s: s["samples"])
    assert top["user_stack"][1:] == ["main", "espia_after_exec"]
    assert top["user_stack"][0] == "[libc.so.6]"
    assert top["samples"] >= 0.8 * sum(s["samples"] for s in after)
    assert not any("espia_before_exec" in s["user_stack"] for s in after)


def test_processes_that_live_a_fifth_of_a_second_are_named(binary):
    comm = comm_name()
    program = binary.with_name(comm)
    shutil.copy(binary, program)
    cli = EspiaCli(["profile", "cpu", "-F", f"comm:{comm}", "-t", "8", "-o", "json"])
    time.sleep(3)  # espia attached (the first runs are checked to have been sampled)
    for _ in range(10):
        subprocess.run([str(program), "spin", "0.2"], check=True)
    code, lines, stderr = cli.finish(timeout=60)
    assert code == 0, stderr
    stacks = json.loads("\n".join(lines))
    total = sum(s["samples"] for s in stacks)
    # 2 s of one busy thread at 49 Hz; espia wakes as soon as it meets a process it
    # has not read the map of.  Before: it read the ring every quarter second, most
    # processes had ended by then, and half of the samples were [unknown] frames.
    assert total >= 49 * 2 * 0.7, stacks
    named = sum(s["samples"] for s in stacks if s["user_stack"][-2:-1] == ["main"])
    assert named >= 0.9 * total, stacks
    assert "[unknown]" not in stderr


def test_a_stripped_binary_shows_its_file_never_a_wrong_name(binary):
    """A stripped binary's code has no symbol: each of its frames is the file, one frame
    for all of it so that its samples add up in one stack, never a name from elsewhere."""
    stripped = binary.with_name("stripped")
    subprocess.run(["strip", "-o", str(stripped), str(binary)], check=True)
    out, _, comm = profile(stripped, "spin", "-o", "json")
    stacks = json.loads(out)
    total = sum(s["samples"] for s in stacks)
    mine = f"[{comm}]"
    assert all(frame.startswith("[") for s in stacks for frame in s["user_stack"]), stacks
    # libc's start (not one of its exported symbols), main, the hot loop: one stack.
    top = max(stacks, key=lambda s: s["samples"])
    assert top["user_stack"] == ["[libc.so.6]", mine, mine], stacks
    assert top["samples"] >= 0.8 * total, stacks


# espia_caller's last instruction is its call of a function that never returns: the
# return address pushed is the first byte of espia_next_function.
NORETURN = r"""
volatile unsigned long sink;
__attribute__((noreturn, noinline)) void espia_spin_forever(void) { for (;;) sink++; }
__attribute__((noinline)) void espia_caller(void) { espia_spin_forever(); }
__attribute__((noinline)) void espia_next_function(void) { sink += 2; }
int main(void) { espia_caller(); }
"""


def test_a_caller_that_ends_in_a_call_is_named_not_the_function_after_it(tmp_path):
    require("gcc")
    (tmp_path / "noreturn.c").write_text(NORETURN)
    compiled = tmp_path / "noreturn"
    flags = ["-O0", "-fno-omit-frame-pointer"]
    subprocess.run(["gcc", *flags, "-o", str(compiled), str(tmp_path / "noreturn.c")], check=True)
    out, _, _ = profile(compiled, "", "-o", "json")
    stacks = json.loads(out)
    top = max(stacks, key=lambda s: s["samples"])
    # Before: main;espia_next_function;espia_spin_forever, a function never called.
    assert top["user_stack"][-3:] == ["main", "espia_caller", "espia_spin_forever"]
    assert not any("espia_next_function" in s["user_stack"] for s in stacks)
