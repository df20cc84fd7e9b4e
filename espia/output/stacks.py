"""The outputs of a stack sampler (gadget.yaml `view: stacks`): samples counted by stack.

Samples are counted as they arrive and shown once, at the end (the
duration, Ctrl-C):

- ``columns`` (the default): the busiest stacks first, each as a line of
  SAMPLES SHARE PID COMM CONTAINER and its frames, leaf first, kernel frames
  above a ``--`` and then the user frames, as bcc's profile prints them;
- ``folded``: the collapsed-stack text flame-graph tools read, a line per
  stack, ``[container;]comm;user frames;kernel frames_[k] COUNT``, root first;
- ``json``/``jsonpretty``/``yaml``: one list of stacks, each with its
  samples, process, container and its frames as lists;
- ``--svg FILE`` besides any of them: a flame graph (espia.output.flamegraph).

The frames come escaped from the sampler (espia.engine.sampler: no frame
holds a ``;``, a control character or a lone backslash); the process and
container names are escaped here the same way, and a user frame that would
read as a kernel one in folded text (a name ending in ``_[k]``) has its
``[`` escaped.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

from espia.errors import OutputError, UsageError
from espia.gadget.event import Event
from espia.output._text import escape_frame
from espia.output.base import LossLines

STACK_MODES = ("columns", "folded", "json", "jsonpretty", "yaml")
KERNEL_MARK = "_[k]"
DEFAULT_MAX_ROWS = 20


@dataclass(frozen=True, slots=True, order=True)
class StackKey:
    """What samples are counted by: a process (in its container) and its stack."""

    container: str
    pod: str
    pid: int
    comm: str
    user: tuple[str, ...]
    kernel: tuple[str, ...]


def key_of(event: Event) -> StackKey:
    container = event.container
    user = getattr(event, "user_stack", "")
    kernel = getattr(event, "kernel_stack", "")
    return StackKey(
        escape_frame(container.name),
        escape_frame(f"{container.k8s.namespace}/{container.k8s.pod}" if container.k8s.pod else ""),
        int(getattr(event, "pid", 0)),
        escape_frame(str(getattr(event, "comm", ""))),
        tuple(user.split(";")) if user else (),
        tuple(kernel.split(";")) if kernel else (),
    )


def folded_frames(key: StackKey) -> list[str]:
    """The frames of a folded line, root first: container, comm, user, kernel."""
    owner = [key.pod, key.container] if key.pod else [key.container] if key.container else []
    user = [_not_kernel(frame) for frame in key.user]
    return [*owner, key.comm, *user, *(frame + KERNEL_MARK for frame in key.kernel)]


def _not_kernel(frame: str) -> str:
    if frame.endswith(KERNEL_MARK):
        return frame[: -len(KERNEL_MARK)] + "_\\x5bk]"
    return frame


def folded(counts: Mapping[StackKey, int]) -> dict[str, int]:
    """{folded stack: samples}, processes of one name merged (as flame graphs draw them)."""
    merged: Counter[str] = Counter()
    for key, count in counts.items():
        merged[";".join(folded_frames(key))] += count
    return dict(merged)


class StacksOutput:
    """Counts samples by stack and writes them at `end()` (see the module)."""

    def __init__(
        self,
        mode: str,
        out: TextIO,
        err: TextIO,
        max_rows: int = DEFAULT_MAX_ROWS,
        svg: str = "",
        title: str = "profile",
    ) -> None:
        if mode not in STACK_MODES:
            raise UsageError(f"output {mode!r}: unknown mode; use one of {', '.join(STACK_MODES)}")
        self.mode = mode
        self.out = out
        self.err = err
        self._losses = LossLines(err)
        self.max_rows = max_rows
        self.svg = svg
        self.title = title
        self.counts: Counter[StackKey] = Counter()

    def begin(self) -> None:
        if self.svg:  # a path that cannot be written fails now, not after the run
            try:
                Path(self.svg).touch()
            except OSError as exc:
                raise OutputError(f"write {self.svg}: {exc.strerror or exc}") from exc

    def write(self, events: list[Event]) -> None:
        self.counts.update(map(key_of, events))

    def lost(self, count: int, total: int, node: str = "") -> None:
        self._losses.report(count, total, node)

    def end(self) -> None:
        self._losses.flush()
        ordered = sorted(self.counts.items(), key=lambda item: (-item[1], item[0]))
        if self.mode == "columns":
            self._table(ordered)
        elif self.mode == "folded":
            for line, count in sorted(folded(self.counts).items()):
                self.out.write(f"{line} {count}\n")
        else:
            self._structured(ordered)
        self.out.flush()
        if self.svg:
            from espia.output.flamegraph import render

            try:
                Path(self.svg).write_text(render(folded(self.counts), self.title))
            except OSError as exc:
                raise OutputError(f"write {self.svg}: {exc.strerror or exc}") from exc

    def _table(self, ordered: list[tuple[StackKey, int]]) -> None:
        total = sum(self.counts.values())
        write = self.out.write
        write(f"{'SAMPLES':>8} {'SHARE':>6} {'PID':>7} {'COMM':<16} CONTAINER\n")
        for key, count in ordered[: self.max_rows]:
            owner = f"{key.pod}/{key.container}" if key.pod else key.container
            write(f"{count:>8} {_share(count, total):>6} {key.pid:>7} {key.comm:<16} {owner}\n")
            for frame in reversed(key.kernel):
                write(f"    {frame}\n")
            if key.kernel and key.user:
                write("    --\n")
            for frame in reversed(key.user):
                write(f"    {frame}\n")
        hidden = ordered[self.max_rows :]
        summary = f"{total} samples in {len(ordered)} stacks"
        if hidden:
            rest = sum(count for _, count in hidden)
            summary += f"; {len(hidden)} more stacks ({rest} samples) not shown (--max-rows)"
        write(summary + "\n")

    def _structured(self, ordered: list[tuple[StackKey, int]]) -> None:
        total = sum(self.counts.values())
        stacks: list[dict[str, Any]] = [
            {
                "samples": count,
                "share": round(count / total, 6) if total else 0.0,
                "pid": key.pid,
                "comm": key.comm,
                "container": key.container,
                "pod": key.pod,
                "user_stack": list(key.user),
                "kernel_stack": list(key.kernel),
            }
            for key, count in ordered
        ]
        if self.mode == "yaml":
            import yaml

            self.out.write(yaml.safe_dump(stacks, sort_keys=False, width=1 << 20))
        else:
            indent = 2 if self.mode == "jsonpretty" else None
            self.out.write(json.dumps(stacks, indent=indent) + "\n")


def _share(count: int, total: int) -> str:
    return f"{100 * count / total:.1f}%" if total else "-"
