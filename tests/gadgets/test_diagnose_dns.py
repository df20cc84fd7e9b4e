"""espia diagnose dns: each finding caused for real, by servers made to misbehave, and by
glibc's own resolver (search-path expansion, A and AAAA on one socket)."""

from __future__ import annotations

import json
import re
import time
from pathlib import Path
from typing import Any

from support.dnsclient import ClientRun, Exchange, ask
from support.netns import Lab, NetNs
from support.runtimes import Ctr
from support.workloads import PRELUDE, EspiaCli, comm_name, espia

from gadgets.test_trace_dns import nslookup, pod_rootfs, task_pid  # noqa: F401 (a fixture)

A, AAAA = 1, 28
SERVFAIL = 2
RECORDS = {"www.test.": ["10.9.9.8"]}

# getaddrinfo() as an application calls it: glibc's resolver reads the namespace's
# resolv.conf, sends A and AAAA together on one socket, and walks the search list.
LOOKUP = """
import json, socket
for name in sys.argv[2].split(","):
    try:
        socket.getaddrinfo(name, 80, type=socket.SOCK_STREAM)
    except socket.gaierror:
        pass
print(json.dumps({"pid": os.getpid()}))
"""


# What glibc's resolver does first (its later retries vary): the A and AAAA queries of
# one lookup sent together from one socket, then waiting up to 1 s for both answers.
TOGETHER = """
import json, socket, struct
def query(ident, qtype):
    name = b"".join(bytes([len(p)]) + p.encode() for p in sys.argv[3].split(".") if p)
    header = struct.pack("!HHHHHH", ident, 0x0100, 1, 0, 0, 0)
    return header + name + b"\\0" + struct.pack("!HH", qtype, 1)
for n in range(int(sys.argv[4])):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.connect((sys.argv[2], 53))
    s.send(query(2 * n + 1, 1))
    s.send(query(2 * n + 2, 28))
    s.settimeout(1)
    try:
        for _ in range(2):
            s.recv(512)
    except socket.timeout:
        pass
    s.close()
print(json.dumps({"pid": os.getpid()}))
"""


def lookup(ns: NetNs, *names: str) -> tuple[int, str]:
    """Resolves `names` in `ns` with glibc; (pid, comm) of the process that did."""
    return _client(ns, LOOKUP, ",".join(names))


def together(ns: NetNs, server: str, name: str, count: int) -> tuple[int, str]:
    """`count` lookups of `name`, A and AAAA together on one socket each; (pid, comm)."""
    return _client(ns, TOGETHER, server, name, str(count))


def _client(ns: NetNs, body: str, *args: str) -> tuple[int, str]:
    comm = comm_name()
    code = PRELUDE + body + "\nsys.stdout.flush()\nos._exit(0)\n"
    done = ns.run("python3", "-c", code, comm, *args, timeout=60)
    return int(json.loads(done.stdout)["pid"]), comm


def who(run: ClientRun) -> str:
    return f"{run.comm} (pid {run.pid})"


def start_diagnose(*args: str) -> EspiaCli:
    cli = EspiaCli(["diagnose", "dns", *args])
    deadline = time.monotonic() + 60
    while "watching DNS" not in cli.stderr_text():
        assert cli.proc.poll() is None and time.monotonic() < deadline, cli.stderr_text()
        time.sleep(0.1)
    return cli


def report_of(cli: EspiaCli) -> dict[str, Any]:
    code, lines, stderr = cli.finish(timeout=60)
    assert code == 0, stderr
    # (warnings about container runtimes that come and go on this machine may follow)
    first, *others = stderr.splitlines()
    assert first.startswith("watching DNS for "), stderr
    assert all(line.startswith("espia: warning: ") for line in others), stderr
    report: dict[str, Any] = json.loads("\n".join(lines))
    return report


def test_every_finding_is_caused_and_reported_most_serious_first(lab: Lab):
    client, servers, refusing = lab.netns("client"), lab.netns("servers"), lab.netns("refuse")
    storm_ns, race_ns = lab.netns("storm"), lab.netns("race")
    good, quiet, failing, slow = (lab.link(client, servers) for _ in range(4))
    refused = lab.link(client, refusing)
    storm, race = lab.link(storm_ns, servers), lab.link(race_ns, servers)
    lab.dnsmasq(servers, RECORDS, good.peer4, storm.peer4)
    lab.dnsmasq(refusing, RECORDS, refused.peer4, refuse=True)
    lab.silent_server(servers, quiet.peer4)
    lab.responder(servers, failing.peer4, rcode=SERVFAIL)
    lab.responder(servers, slow.peer4, delay=0.3)
    lab.responder(servers, race.peer4, drop=[AAAA])
    lab.resolv_conf(
        storm_ns, f"nameserver {storm.peer4}\nsearch svc.test other.test\noptions ndots:5\n"
    )

    netns = "|".join(str(ns.inode) for ns in (client, storm_ns, race_ns))
    cli = start_diagnose(
        "-d", "14", "-o", "json", "-F", f"netns:~^({netns})$",
        "--resolver", good.peer4, "--resolver", storm.peer4,
    )  # fmt: skip
    race_pid, race_comm = together(race_ns, race.peer4, "www.test.", 3)
    silent_run = ask(
        client, [Exchange(quiet.peer4, "www.test.", A, ident=i, wait=0.1) for i in range(4)]
    )
    failing_run = ask(client, [Exchange(failing.peer4, "www.test.", A, ident=i) for i in range(3)])
    slow_run = ask(client, [Exchange(slow.peer4, "www.test.", A, ident=i) for i in range(4)])
    refused_run = ask(client, [Exchange(refused.peer4, "x.example.", A, ident=i) for i in range(2)])
    fine_run = ask(client, [Exchange(good.peer4, "www.test.", A, ident=i) for i in range(2)])
    storm_pid, storm_comm = lookup(storm_ns, "www.test")
    report = report_of(cli)

    assert report["lost"] == 0
    racer, stormer = f"{race_comm} (pid {race_pid})", f"{storm_comm} (pid {storm_pid})"
    texts = [(f["severity"], f["text"]) for f in report["findings"]]
    slow_text = next(t for s, t in texts if "slow" in t)
    assert texts == [
        ("critical", f"{who(silent_run)}: 4 of 4 queries to {quiet.peer4} got no answer in 5 s"),
        ("error", f"{racer}: 3 of 6 queries to {race.peer4} got no answer in 5 s"),
        (
            "error",
            f"{racer}: 3 of 3 lookups sent A and AAAA together on one socket to {race.peer4} "
            "and got only one answer (AAAA missing): the resolver then waits its timeout; this "
            "is the conntrack race of parallel lookups (resolv.conf `options "
            "single-request-reopen`, or use-vc)",
        ),
        # Equal severity and kind: by client, whose names are random here.
        *sorted(
            (
                ("error", f"{who(failing_run)}: 3 of 3 responses from {failing.peer4} were "
                          "SERVFAIL (100%)"),
                ("error", f"{who(refused_run)}: 2 of 2 responses from {refused.peer4} were "
                          "REFUSED (100%)"),
            ),
        ),
        ("warning", slow_text),
        (
            "warning",
            f"{stormer}: 6 lookups for www.test., 4 of them NXDOMAIN for search-path expansions "
            "(www.test.other.test., www.test.svc.test.); ask for www.test. with its final dot, "
            "or lower ndots",
        ),
        *sorted(
            (
                ("notice", f"{name}: {count} queries went to {server}, which is not its resolver "
                 f"({good.peer4}, {storm.peer4})")
                for name, count, server in (
                    (who(silent_run), 4, quiet.peer4),
                    (racer, 6, race.peer4),
                    (who(failing_run), 3, failing.peer4),
                    (who(slow_run), 4, slow.peer4),
                    (who(refused_run), 2, refused.peer4),
                )
            ),
        ),
    ], json.dumps(report)  # fmt: skip
    assert re.fullmatch(
        rf"{re.escape(who(slow_run))}: answers from {re.escape(slow.peer4)} are slow: "
        r"p99 (\d+\.\d{3})ms, p50 (\d+\.\d{3})ms over 4 answers \(threshold 200\.000ms\)",
        slow_text,
    ), slow_text
    found = {f["kind"]: f for f in report["findings"]}
    assert 300e6 <= found["slow"]["p50"] <= found["slow"]["p99"] < 1e9
    assert found["search-path"]["expansions"] == ["www.test.other.test.", "www.test.svc.test."]

    table = {
        (c["client"], s["nameserver"]): (s["queries"], s["answered"], s["unanswered"], s["rcodes"])
        for c in report["clients"]
        for s in c["nameservers"]
    }
    assert table == {
        (who(silent_run), quiet.peer4): (4, 0, 4, {}),
        (racer, race.peer4): (6, 3, 3, {"NOERROR": 3}),
        (who(failing_run), failing.peer4): (3, 3, 0, {"SERVFAIL": 3}),
        (who(slow_run), slow.peer4): (4, 4, 0, {"NOERROR": 4}),
        (who(refused_run), refused.peer4): (2, 2, 0, {"REFUSED": 2}),
        (who(fine_run), good.peer4): (2, 2, 0, {"NOERROR": 2}),
        (stormer, storm.peer4): (6, 6, 0, {"NOERROR": 2, "NXDOMAIN": 4}),
    }
    assert report["lost"] == 0 and report["queries"] == 27


def test_the_text_report_and_bad_flags(lab: Lab):
    client, server = lab.netns("client"), lab.netns("server")
    link = lab.link(client, server)
    lab.silent_server(server, link.peer4)
    cli = start_diagnose("-d", "2", "-F", f"netns:{client.inode}", "--resolver", link.peer4)
    run = ask(client, [Exchange(link.peer4, "www.test.", A, ident=1, wait=0.1)])
    code, lines, _ = cli.finish(timeout=30)
    assert code == 0
    # Given up when the watch ended, under the resolver's 5 s: said so.
    line = next(text for text in lines if "got no answer" in text)
    assert re.fullmatch(
        rf"  critical {re.escape(who(run))}: 1 of 1 queries to {re.escape(link.peer4)} got no "
        r"answer in \d+ ms \(when the watch ended\)|"
        rf"  critical {re.escape(who(run))}: 1 of 1 queries to {re.escape(link.peer4)} got no "
        r"answer in 1(\.\d)? s \(when the watch ended\)",
        line,
    ), line
    assert lines[0] == "diagnose dns: 2 s watched, 1 queries from 1 client, 0 events lost"
    assert lines[-2].split() == [
        "CLIENT", "NAMESERVER", "QUERIES", "ANSWERED", "UNANSWERED", "ERRORS", "P50", "P99",
    ]  # fmt: skip
    assert lines[-1].split()[-7:] == [link.peer4, "1", "0", "1", "-", "-", "-"]
    for args, message in (
        (["-d", "0"], "duration '0' is not a positive number"),
        (["--slow", "fast"], "'fast' is not a duration"),
        (["-o", "yaml"], "output 'yaml': columns or json"),
        (["-F", "nosuch:1"], "trace dns has no field 'nosuch'"),
    ):
        done = espia("diagnose", "dns", *args)
        assert done.returncode == 2 and message in done.stderr, (args, done.stderr)
        assert done.stderr.count("\n") == 1 and "Traceback" not in done.stderr


def test_a_pod_whose_nameserver_never_answers(ctr: Ctr, pod_rootfs: Path, lab: Lab):  # noqa: F811
    """The seed's pod: its resolv.conf names a silent server; the finding names the pod, and
    the pod is held to its own resolv.conf (the other server it asks gets a notice)."""
    silent, server = lab.netns("silent"), lab.netns("server")
    pod = ctr.run_pod(pod_rootfs, "my-app", "my-ns", {"app": "my-app"}, ["app"])
    try:
        app = pod.containers["app"]
        pid = task_pid(ctr, app)
        to_silent, to_server = lab.link(pid, silent), lab.link(pid, server)
        lab.silent_server(silent, to_silent.peer4)
        (pod_rootfs / "etc" / "resolv.conf").write_text(f"nameserver {to_silent.peer4}\n")
        lab.dnsmasq(server, RECORDS, to_server.peer4)
        cli = start_diagnose("-d", "9", "-n", "my-ns", "-o", "json")
        nslookup(ctr, app, "www.test")
        nslookup(ctr, app, "www.test", to_server.peer4)
        report = report_of(cli)
    finally:
        ctr.remove_pod(pod)
    (client,) = report["clients"]
    assert (client["client"], client["kind"], client["resolvers"]) == (
        "my-ns/my-app",
        "pod",
        [to_silent.peer4],
    )
    servers = {s["nameserver"]: s for s in client["nameservers"]}
    silent_stats = servers[to_silent.peer4]
    sent = silent_stats["queries"]
    # busybox asks A and AAAA, and asks again on the same socket: retransmissions.
    assert sent >= 2 and silent_stats["retransmissions"] >= 1
    assert (silent_stats["answered"], silent_stats["unanswered"]) == (0, sent)
    assert servers[to_server.peer4]["answered"] == servers[to_server.peer4]["queries"] == 2
    assert [(f["severity"], f["text"]) for f in report["findings"]] == [
        ("critical", f"my-ns/my-app: {sent} of {sent} queries to {to_silent.peer4} got no "
                     "answer in 5 s"),
        ("notice", f"my-ns/my-app: 2 queries went to {to_server.peer4}, which is not its resolver "
                   f"({to_silent.peer4})"),
    ], json.dumps(report)  # fmt: skip
