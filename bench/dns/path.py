"""trace dns's per-event path in user space, stage by stage, on synthetic records.

    python3 bench/dns/path.py [--queries 200000] [--names 100] [--rounds 3] [--output json]

Why: on a loaded 2-core machine a live run cannot tell which stage costs
what; here the records are made in memory, laid out as the program's BTF
says (a query and its one-answer response for each of --names names, from
four client sockets, as dnsperf sends them), and go through the real
decoder, the semantic stages (DNS pairing), the netns filter of
`-F netns:N`, the container enrichment and the line of `espia trace dns
-o json` (or another --output: columns=+latency), each timed on its own
(CPU time of this process, the CLI's garbage-collector settings).  Nothing is
loaded into the kernel.

Prints one JSON object: microseconds per event for each stage, the median
of --rounds rounds.
"""

from __future__ import annotations

import argparse
import gc
import io
import json
import os
import statistics
import struct
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

import dns.message  # noqa: E402
import dns.rrset  # noqa: E402

from espia.cli.main import _tune_gc  # noqa: E402
from espia.containers.model import NO_CONTAINER  # noqa: E402
from espia.engine.runtime import CONTAINER_FIELDS  # noqa: E402
from espia.engine.tracer import BATCH, RingBufferTracer  # noqa: E402
from espia.gadget.registry import builtin  # noqa: E402
from espia.output import make_output  # noqa: E402
from espia.pipeline.enrich import ContainerEnricher  # noqa: E402
from espia.pipeline.filter import FilterStage, compile_terms, parse_all  # noqa: E402
from espia.pipeline.operator import PRIORITY_EARLY_FILTER  # noqa: E402
from espia.pipeline.semantic import semantic_stages  # noqa: E402

NETNS = 4026532000
MNTNS = 4026531841
CLIENT = b"\0" * 10 + b"\xff\xff" + bytes([10, 251, 2, 1])
SERVER = b"\0" * 10 + b"\xff\xff" + bytes([10, 251, 2, 2])


def messages(names: int) -> list[tuple[bytes, bytes]]:
    """(query, response) wire bytes for each name; the id is set per record."""
    pairs = []
    for i in range(names):
        query = dns.message.make_query(f"host{i}.bench.", "A", use_edns=False)
        response = dns.message.make_response(query)
        response.answer.append(
            dns.rrset.from_text(query.question[0].name, 0, "IN", "A", "10.9.9.9")
        )
        pairs.append((query.to_wire(), response.to_wire()))
    return pairs


def records(leaves: dict[str, Any], queries: int, names: int) -> list[bytes]:
    """The records the program would send for `queries` exchanges, in ring order."""
    pairs = messages(names)
    fixed = leaves["dns"].offset
    out = []
    clock = 10**12
    for n in range(queries):
        query, response = pairs[n % names]
        ident = struct.pack("!H", n & 0xFFFF)
        port = 40000 + n % 4
        for egress, message in ((True, query), (False, response)):
            record = bytearray(fixed + len(message))
            clock += 10_000
            values = {
                "timestamp": clock,
                "mntns": MNTNS,
                "netns": NETNS,
                "pid": 4242,
                "tid": 4243 + n % 4,
                "type": 4 if egress else 0,
                "proto": 17,
                "size": len(message),
                "dns_truncated": 0,
            }
            for name, value in values.items():
                leaf = leaves[name]
                record[leaf.offset : leaf.offset + leaf.size] = value.to_bytes(leaf.size, "little")
            record[leaves["comm"].offset : leaves["comm"].offset + 7] = b"dnsperf"
            client = CLIENT + port.to_bytes(2, "little")
            server = SERVER + (53).to_bytes(2, "little")
            src, dst = (client, server) if egress else (server, client)
            record[leaves["src"].offset : leaves["src"].offset + 18] = src
            record[leaves["dst"].offset : leaves["dst"].offset + 18] = dst
            record[fixed:] = ident + message[2:]
            out.append(bytes(record))
    return out


def ring(recs: list[bytes]) -> tuple[bytes, list[tuple[int, int]]]:
    """The records back to back in one buffer, 8-byte aligned as in the ring."""
    buffer = bytearray()
    places = []
    for record in recs:
        buffer += b"\0" * 8
        places.append((len(buffer), len(record)))
        buffer += record + b"\0" * (-len(record) % 8)
    return bytes(buffer), places


def timed(work: Callable[[], Any]) -> tuple[float, Any]:
    started = time.process_time()
    result = work()
    return time.process_time() - started, result


def one_round(args: argparse.Namespace) -> dict[str, float]:
    tracer = RingBufferTracer(builtin("trace", "dns"))
    schema = tracer.prepare(CONTAINER_FIELDS)
    decode = tracer._decode
    leaves = {leaf.name: leaf for leaf in schema.leaves}
    buffer, places = ring(records(leaves, args.queries, args.names))
    stages = list(semantic_stages(schema))
    filters = compile_terms(parse_all(f"netns:{NETNS}"), schema)
    early = FilterStage(filters, PRIORITY_EARLY_FILTER)
    enrich = ContainerEnricher({NETNS: NO_CONTAINER}, "netns", lambda ns: NO_CONTAINER)
    sink = open(os.devnull, "w")  # noqa: SIM115 - closed below
    # The CLI's default columns for a gadget joined by netns, without a pod selector.
    columns = ["runtime.containerName"]
    columns += [f.name for f in schema.fields if not f.hidden and f.path[0] != "container"]
    output = make_output(
        args.output, schema.fields, columns, sink, io.StringIO(), title="trace dns"
    )
    spent = dict.fromkeys(("decode", "pairing", "filter", "enrich", "output"), 0.0)
    for start in range(0, len(places), args.batch):
        batch = places[start : start + args.batch]

        def decoding(batch: list[tuple[int, int]] = batch) -> list[Any]:
            return [decode(buffer, offset, length) for offset, length in batch]

        cost, events = timed(decoding)
        spent["decode"] += cost
        for stage in stages:
            cost, events = timed(lambda stage=stage, events=events: stage.process(events))
            spent["pairing"] += cost
        cost, events = timed(lambda events=events: early.process(events))
        spent["filter"] += cost
        cost, events = timed(lambda events=events: enrich.process(events))
        spent["enrich"] += cost
        cost, _ = timed(lambda events=events: output.write(events))
        spent["output"] += cost
    sink.close()
    count = len(places)
    per_event = {stage: 1e6 * seconds / count for stage, seconds in spent.items()}
    per_event["total"] = sum(per_event.values())
    return per_event


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--queries", type=int, default=200_000)
    parser.add_argument("--names", type=int, default=100)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument(
        "--output",
        default="json",
        help="the output format, as -o takes it (json, columns=+latency...)",
    )
    parser.add_argument(
        "--batch", type=int, default=BATCH, help="records per batch (the tracer's by default)"
    )
    args = parser.parse_args()
    _tune_gc()
    rounds = [one_round(args) for _ in range(args.rounds)]
    gc.collect()
    medians = {stage: round(statistics.median(r[stage] for r in rounds), 2) for stage in rounds[0]}
    print(json.dumps({"us_per_event": medians, "load_average": os.getloadavg()}))


if __name__ == "__main__":
    main()
