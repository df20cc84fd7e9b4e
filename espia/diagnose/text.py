"""A diagnosis report as text: the findings first (most serious first), then the table.

Names in a report come from the traced system (comms, DNS names, pod
names): every one goes through `escape_control`, as the columns output does.
"""

from __future__ import annotations

from typing import Any

from espia.output._text import escape_control
from espia.semantic.dns import latency_text

_HEADER = ("CLIENT", "NAMESERVER", "QUERIES", "ANSWERED", "UNANSWERED", "ERRORS", "P50", "P99")


def _errors(rcodes: dict[str, int]) -> str:
    return ",".join(f"{rcode}:{n}" for rcode, n in rcodes.items() if rcode != "NOERROR") or "-"


def dns_report_text(report: dict[str, Any], title: str = "diagnose dns") -> str:
    clients = len(report["clients"])
    lines = [
        f"{title}: {report['duration']:g} s watched, {report['queries']} queries from "
        f"{clients} client{'' if clients == 1 else 's'}, {report['lost']} events lost",
        "",
    ]
    if report["findings"]:
        lines.append("FINDINGS (most serious first)")
        lines += [f"  {f['severity']:<8} {escape_control(f['text'])}" for f in report["findings"]]
    else:
        lines.append("no DNS trouble seen")
    # On a cluster, each client's node, in a column after it.
    nodes = any("node" in client for client in report["clients"])
    header = (_HEADER[0], "NODE", *_HEADER[1:]) if nodes else _HEADER
    rows = [
        (
            escape_control(client["client"]),
            *((escape_control(client.get("node", "")),) if nodes else ()),
            server["nameserver"],
            str(server["queries"]),
            str(server["answered"]),
            str(server["unanswered"]),
            _errors(server["rcodes"]),
            latency_text(server["p50"]) or "-",
            latency_text(server["p99"]) or "-",
        )
        for client in report["clients"]
        for server in client["nameservers"]
    ]
    if rows:
        widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header))]
        # Left-aligned: the names and the error codes; the numbers to the right.
        left = {0, 1, 2, 6} if nodes else {0, 1, 5}
        lines.append("")
        for row in [header, *rows]:
            cells = [
                cell.ljust(width) if i in left else cell.rjust(width)
                for i, (cell, width) in enumerate(zip(row, widths, strict=True))
            ]
            lines.append(" ".join(cells).rstrip())
    return "\n".join(lines) + "\n"
