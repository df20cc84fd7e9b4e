"""The Python API: gadgets as iterators of typed events.

    import espia

    with espia.trace("open", filter="comm:cat", timeout=5) as events:
        for event in events:
            print(event.pid, event.path, event.container.name)
        print("lost:", events.lost)

A `Trace` loads its gadget on `start()` (or on the first iteration) and
unloads it when the iteration ends, on `close()`, or when the `with` block
exits, whatever happens in between.  A Trace runs once: iterating it again,
or after `close()`, is an error that says so.  Traces run through the
process's local runtime: however many run at once, they share one
container collection.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from types import TracebackType
from typing import Any

from espia.containers.selector import ContainerSelector
from espia.engine.containers import ContainerSources
from espia.engine.runtime import GadgetRef, GadgetRun, Runtime, local_runtime
from espia.engine.source import RunOptions, parse_size
from espia.errors import UsageError
from espia.gadget.event import Event
from espia.gadget.fields import Field


class Trace:
    """A gadget running on this host, as an iterator of its events."""

    def __init__(self, runtime: Runtime, gadget: GadgetRef, options: RunOptions) -> None:
        self._title = f"{gadget.category} {gadget.name}"
        self._run: GadgetRun = runtime.run(gadget, options)
        self._started = False
        self._iterated = False
        self._closed = False

    @property
    def fields(self) -> tuple[Field, ...]:
        """The fields of this gadget's events (the event attributes and container fields)."""
        return self._run.fields

    @property
    def lost(self) -> int:
        """Events the kernel produced but could not hand over, so far."""
        return self._run.lost

    @property
    def received(self) -> int:
        """Records the kernel handed over so far, before user-space filters dropped any."""
        return self._run.received

    def _usable(self) -> None:
        if self._closed or self._iterated:
            raise UsageError(
                f"this trace of {self._title} has ended (a Trace runs once): "
                "make a new one with espia.run() or espia.trace()"
            )

    def start(self) -> Trace:
        """Loads and attaches the gadget; events are recorded from here on."""
        self._usable()
        if not self._started:
            try:
                self._run.start()
            except BaseException:
                self.close()
                raise
            self._started = True
        return self

    def __iter__(self) -> Iterator[Event]:
        self.start()
        self._iterated = True
        return self._events()

    def _events(self) -> Iterator[Event]:
        try:
            for batch in self._run.batches():
                yield from batch.events
        finally:
            self.close()

    def stop(self) -> None:
        """Ends the iteration after the events already recorded (safe from other threads)."""
        self._run.stop()

    def close(self) -> None:
        """Detaches and unloads everything; idempotent."""
        self._closed = True
        self._run.close()

    def __enter__(self) -> Trace:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


def _names(text: str | None) -> tuple[str, ...]:
    return tuple(n.strip() for n in (text or "").split(",") if n.strip())


def run(
    category: str,
    gadget: str,
    *,
    filter: str | Sequence[str] | None = None,
    timeout: float = 0.0,
    buffer_size: int | str | None = None,
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
    ("comm:cat,err:!0"), or a list of such strings, all of which must hold
    (as repeated -F); `timeout` is in seconds (0: until `stop()` or
    `close()`); `buffer_size` is the ring buffer's size, in bytes or as
    "16M"; `containername`, `namespace`, `podname` (comma-separated names)
    and `selector` (pod labels, "app=web,tier!=db") select containers,
    `host` adds processes outside containers; `runtimes` ("containerd,docker")
    and `runtime_sockets` ({"containerd": PATH}) say where containers come
    from.  `without_helpers` ("task_pt_regs",...) runs the gadget as on a
    kernel without those BPF helpers, on its slower fallback path.
    Bad names, values or filters raise espia.UsageError.
    """
    sources = ContainerSources(
        runtimes=_names(runtimes) if runtimes else None,
        sockets=tuple(sorted((runtime_sockets or {}).items())),
        containerd_namespaces=_names(containerd_namespaces) or ("k8s.io",),
    )
    options = RunOptions(
        filter=filter,
        timeout=timeout,
        buffer_size=parse_size(buffer_size) if buffer_size is not None else None,
        selector=ContainerSelector.from_flags(
            containername, namespace, all_namespaces, podname, selector, host
        ),
        without_helpers=tuple(without_helpers),
    )
    return Trace(local_runtime(sources), GadgetRef(category, gadget), options)


def trace(gadget: str, **options: Any) -> Trace:
    """`run("trace", gadget, ...)`: e.g. ``espia.trace("exec", filter="comm:bash")``."""
    return run("trace", gadget, **options)
