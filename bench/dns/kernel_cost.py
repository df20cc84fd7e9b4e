"""What trace dns's kernel programs cost each packet, measured by the kernel itself.

    python3 bench/dns/kernel_cost.py [--repeat 50000] [--rounds 5]

Each packet kind is handed to the attached cgroup_skb program with
BPF_PROG_TEST_RUN `--repeat` times; the kernel reports the mean time of one
run (it stops the clock while it reschedules, so other load on the machine
matters less than for a wall-clock figure).  Kinds: a DNS query leaving
(egress: the sender becomes the socket's owner), a response arriving
(ingress: the owner is looked up), a TCP segment seen again, and a packet
that is not DNS (what every other packet of the host pays).  A DNS exchange between
two processes of the host passes four programs (query out, query in,
response out, response in): the latency the gadget adds to it is about the
sum.  Medians of `--rounds`; nothing reaches any network (a test run has no
device).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import struct
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "tests"))

from support.testrun import TestRun

ETH_IP = 0x0800
SRC, DST = bytes([192, 0, 2, 1]), bytes([198, 51, 100, 53])


def ipv4(l4: bytes, proto: int) -> bytes:
    return struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(l4), 1, 0, 64, proto, 0, SRC, DST) + l4


def message(response: bool) -> bytes:
    flags, answers = (0x8180, 1) if response else (0x0100, 0)
    body = struct.pack("!HHHHHH", 7, flags, 1, answers, 0, 0) + b"\4host\5bench\0\0\1\0\1"
    if response:
        body += b"\xc0\x0c" + struct.pack("!HHIH", 1, 1, 0, 4) + bytes([10, 9, 9, 9])
    return body


def udp(payload: bytes, sport: int, dport: int) -> bytes:
    return ipv4(struct.pack("!HHHH", sport, dport, 8 + len(payload), 0) + payload, 17)


def tcp(payload: bytes, sport: int, dport: int) -> bytes:
    header = struct.pack("!HHIIBBHHH", sport, dport, 1000, 0, 0x50, 0x18, 1024, 0, 0)
    return ipv4(header + struct.pack("!H", len(payload)) + payload, 6)


KINDS = {
    "UDP query, egress": ("dns_egress", udp(message(False), 40000, 53)),
    "UDP response, ingress": ("dns_ingress", udp(message(True), 53, 40000)),
    # The repeats run on one socket: after the first, the segment is one seen already.
    "TCP segment seen again, egress": ("dns_egress", tcp(message(False), 40000, 53)),
    "not DNS (UDP to port 80), egress": ("dns_egress", udp(b"x" * 64, 40000, 80)),
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    # Within what the 16 MiB ring holds of these events (about 130,000): a full ring's
    # failed outputs would cost less than real ones.
    parser.add_argument("--repeat", type=int, default=50_000)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    programs = TestRun("dns")
    try:
        runs: dict[str, list[int]] = {kind: [] for kind in KINDS}
        for _ in range(args.rounds):
            for kind, (program, packet) in KINDS.items():
                runs[kind].append(programs.test_run(program, packet, ETH_IP, args.repeat)[1])
                # Drain what the repeated runs sent (a ring full of them would cost less).
                while programs.tracer.poll()[0]:
                    pass
    finally:
        programs.close()
    print(
        json.dumps(
            {
                "repeat": args.repeat,
                "rounds": args.rounds,
                "load_average": os.getloadavg(),
                "ns_per_packet_median": {k: statistics.median(v) for k, v in runs.items()},
                "ns_per_packet_all": runs,
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
