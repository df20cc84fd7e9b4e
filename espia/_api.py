"""The Python API: gadgets as iterators of typed events.

    import espia

    with espia.trace("open", filter="comm:cat", timeout=5) as events:
        for event in events:
            print(event.pid, event.path, event.container.name)
        print("lost:", events.lost)

A `Trace` loads its gadget on `start()` (or on the first iteration) and
unloads it when the iteration ends, on `close()`, or when the `with` block
exits, whatever happens in between.
"""

from __future__ import annotations

from collections.abc import Iterator
from types import TracebackType
from typing import Any

from espia.containers.selector import ContainerSelector
from espia.engine.local import RunOptions
from espia.engine.session import ContainerOptions, Session, open_session
from espia.gadget.event import Event
from espia.gadget.fields import Field
from espia.gadget.registry import builtin


class Trace:
    """A gadget running on this host, as an iterator of its events."""

    def __init__(
        self, category: str, gadget: str, options: RunOptions, containers: ContainerOptions
    ) -> None:
        self._session: Session = open_session(builtin(category, gadget), options, containers)
        self._started = False

    @property
    def fields(self) -> tuple[Field, ...]:
        """The fields of this gadget's events (the event attributes and container fields)."""
        return self._session.schema.fields

    @property
    def lost(self) -> int:
        """Events the kernel produced but could not hand over, so far."""
        return self._session.lost_total

    @property
    def received(self) -> int:
        """Records the kernel handed over so far, before user-space filters dropped any."""
        return self._session.run.received_total

    def start(self) -> Trace:
        """Loads and attaches the gadget; events are recorded from here on."""
        if not self._started:
            try:
                self._session.start()
            except BaseException:
                self.close()
                raise
            self._started = True
        return self

    def __iter__(self) -> Iterator[Event]:
        self.start()
        try:
            for batch in self._session.batches():
                yield from batch.events
        finally:
            self.close()

    def stop(self) -> None:
        """Ends the iteration after the events already recorded (safe from other threads)."""
        self._session.stop()

    def close(self) -> None:
        """Detaches and unloads everything; idempotent."""
        self._session.close()

    def __enter__(self) -> Trace:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


def run(
    category: str,
    gadget: str,
    *,
    filter: str | None = None,
    timeout: float = 0.0,
    buffer_size: int | None = None,
    containername: str | None = None,
    namespace: str | None = None,
    podname: str | None = None,
    selector: str | None = None,
    all_namespaces: bool = False,
    host: bool = False,
    runtimes: str | None = None,
    runtime_sockets: dict[str, str] | None = None,
    containerd_namespaces: str = "k8s.io",
    without_helpers: tuple[str, ...] = (),
) -> Trace:
    """Prepares gadget `category gadget` (e.g. "trace", "exec"); iterate it to run it.

    The arguments are the command line's flags: `filter` takes the -F syntax
    ("comm:cat,err:!0"), `timeout` is in seconds (0: until `stop()` or
    `close()`), `buffer_size` is the ring buffer's size in bytes;
    `containername`, `namespace`, `podname` (comma-separated names) and
    `selector` (pod labels, "app=web,tier!=db") select containers, `host`
    adds processes outside containers; `runtimes` ("containerd,docker") and
    `runtime_sockets` ({"containerd": PATH}) say where containers come from.
    `without_helpers` ("task_pt_regs",...) runs the gadget as on a kernel
    without those BPF helpers, on its slower fallback path.
    Bad names or filters raise espia.UsageError.
    """
    containers = ContainerOptions(
        selector=ContainerSelector.from_flags(
            containername, namespace, all_namespaces, podname, selector, host
        ),
        runtimes=tuple(r.strip() for r in runtimes.split(",")) if runtimes else None,
        sockets=dict(runtime_sockets or {}),
        containerd_namespaces=tuple(n.strip() for n in containerd_namespaces.split(",")),
    )
    options = RunOptions(filter, timeout, buffer_size, tuple(without_helpers))
    return Trace(category, gadget, options, containers)


def trace(gadget: str, **options: Any) -> Trace:
    """`run("trace", gadget, ...)`: e.g. ``espia.trace("exec", filter="comm:bash")``."""
    return run("trace", gadget, **options)
