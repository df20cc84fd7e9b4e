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

import os
from collections.abc import Iterator, Mapping, Sequence
from contextlib import ExitStack
from types import TracebackType
from typing import Any

from espia.containers.selector import ContainerSelector
from espia.engine.containers import ContainerSources
from espia.engine.runtime import Gadget, GadgetRef, GadgetRun, Runtime, local_runtime
from espia.engine.source import RunOptions, parse_size
from espia.errors import UsageError
from espia.gadget.event import Event
from espia.gadget.fields import Field
from espia.gadget.local import open_gadget
from espia.gadget.spec import GadgetSpec


class Trace:
    """A gadget running on this host, as an iterator of its events."""

    def __init__(
        self,
        runtime: Runtime,
        gadget: Gadget,
        options: RunOptions,
        cleanup: ExitStack | None = None,
    ) -> None:
        # What the gadget needs until it is closed (a user gadget's build directory).
        self._cleanup = cleanup or ExitStack()
        self._title = f"{gadget.category} {gadget.name}"
        try:
            self._run: GadgetRun = runtime.run(gadget, options)
        except BaseException:
            self._cleanup.close()
            raise
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
        self._cleanup.close()

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
    category: str | os.PathLike[str],
    gadget: str | None = None,
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
    params: Mapping[str, object] | None = None,
) -> Trace:
    """Prepares gadget `category gadget` (e.g. "trace", "exec"), or without `gadget` the
    user's gadget at path `category` (a .bpf.c file, a gadget folder or a .bpf.o, as
    `espia run PATH`) or, when no such file exists, the image NAME[:TAG] of the local
    store ($ESPIA_IMAGE_STORE); iterate it to run it.

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
    `params` sets the gadget's parameters ({"signal": "SIGKILL"}, {"failed_only":
    True}: text as on the command line, or a Python bool, int or str).
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
        params=dict(params or {}),
    )
    if gadget is None:
        cleanup = ExitStack()
        try:
            spec = _open_user_gadget(category, cleanup)
        except BaseException:
            cleanup.close()
            raise
        return Trace(local_runtime(sources), spec, options, cleanup)
    return Trace(local_runtime(sources), GadgetRef(str(category), gadget), options)


def _open_user_gadget(where: str | os.PathLike[str], cleanup: ExitStack) -> GadgetSpec:
    """A path, or (when no such file exists) an image of the local store (never pulled:
    `espia image pull` fetches one, verified)."""
    from espia.images.store import looks_like_reference

    if os.path.exists(where) or not looks_like_reference(str(where)):
        return open_gadget(where, cleanup)
    from espia.images.gadget import open_image
    from espia.images.store import Reference, Store

    return open_image(Reference.parse(str(where)), Store(), cleanup)


def trace(gadget: str, **options: Any) -> Trace:
    """`run("trace", gadget, ...)`: e.g. ``espia.trace("exec", filter="comm:bash")``."""
    return run("trace", gadget, **options)
