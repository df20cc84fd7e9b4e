"""espia's entry points: parse, run, and turn every error into one line and an exit code.

Exit codes: 0 done (Ctrl-C included), 1 runtime error, 2 usage error.
"""

from __future__ import annotations

# Ctrl-C can come while Python is still importing (logging alone takes tens of
# ms): until this module is loaded it ends espia quietly, as Ctrl-C does later
# (main() handles KeyboardInterrupt).  So this goes before any other import.
import signal


def _quiet_interrupt(signum: int, frame: object) -> None:
    raise SystemExit(0)


_interrupt_handler = signal.signal(signal.SIGINT, _quiet_interrupt)

import contextlib  # noqa: E402
import gc  # noqa: E402
import logging  # noqa: E402
import os  # noqa: E402
import sys  # noqa: E402
import threading  # noqa: E402
from collections.abc import Callable  # noqa: E402
from types import FrameType  # noqa: E402
from typing import Any, NoReturn  # noqa: E402

from espia._version import __version__  # noqa: E402
from espia.errors import EspiaError, OutputError  # noqa: E402


def _print_error(error: EspiaError) -> None:
    lines = str(error).splitlines() or [type(error).__name__]
    sys.stderr.write(f"espia: {lines[0]}\n")
    for line in lines[1:]:
        sys.stderr.write(f"  {line}\n")


class _Stopper:
    """First SIGINT/SIGTERM: stop gracefully (drain, detach, exit 0). Second: stop now.

    The handler itself only writes a byte to a pipe, and a thread of its own
    calls `stop`.  Python runs a signal handler in the main thread between two
    of its bytecodes, possibly while that thread holds a lock: inside a
    `threading.Event.wait()`, the event's own.  A `stop` that set that event
    from the handler would wait for the lock forever (seen: one run in a few
    hundred did not end after Ctrl-C).  From another thread it waits a moment.
    """

    def __init__(self, stop: Callable[[], None]) -> None:
        self._stop = stop
        self._signalled = False
        self._wakeup = os.pipe()
        self._thread = threading.Thread(target=self._wait, name="espia-stopper", daemon=True)
        self._thread.start()
        self._previous = {
            sig: signal.signal(sig, self._handle) for sig in (signal.SIGINT, signal.SIGTERM)
        }

    def _wait(self) -> None:
        if os.read(self._wakeup[0], 1) == _STOP:
            self._stop()

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        if self._signalled:
            raise KeyboardInterrupt
        self._signalled = True
        os.write(self._wakeup[1], _STOP)  # a syscall: takes no lock of Python's

    def restore(self) -> None:
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)
        os.write(self._wakeup[1], _DONE)  # ends the thread, if no signal came
        self._thread.join()
        for fd in self._wakeup:
            os.close(fd)


_STOP, _DONE = b"s", b"d"


class _WarningLine(logging.Handler):
    """espia's warnings (a runtime that went away...) as `espia: warning: ...` lines."""

    def emit(self, record: logging.LogRecord) -> None:
        sys.stderr.write(f"espia: warning: {record.getMessage()}\n")
        sys.stderr.flush()


class _Output:
    """stdout for espia's writers: a failed write (a full disk, EIO) becomes an OutputError.

    Without it the OSError would surface as a traceback wherever the write
    happened; a reader that went away (EPIPE) stays a BrokenPipeError, a quiet end.
    Its binary `buffer` (where JSON lines go as bytes) is guarded the same way.
    """

    def __init__(self, stream: Any) -> None:
        self._stream = stream
        binary = getattr(stream, "buffer", None)
        if binary is not None:
            self.buffer = _Output(binary)

    def write(self, data: Any) -> int:
        try:
            return int(self._stream.write(data))
        except BrokenPipeError:
            raise
        except OSError as exc:
            raise OutputError(f"write output: {exc.strerror or exc}") from exc

    def flush(self) -> None:
        try:
            self._stream.flush()
        except BrokenPipeError:
            raise
        except OSError as exc:
            raise OutputError(f"write output: {exc.strerror or exc}") from exc

    def __getattr__(self, name: str) -> Any:
        return getattr(self._stream, name)


def _open_output() -> _Output:
    """sys.stdout wrapped; a closed standard output is an error before anything runs."""
    closed = OutputError("write output: standard output is closed")
    stream = sys.stdout
    if stream is None:  # Python found fd 1 closed at start
        raise closed
    try:
        fd = stream.fileno()
    except (OSError, ValueError):
        return _Output(stream)  # not backed by a descriptor (a caller's buffer)
    try:
        os.fstat(fd)
    except OSError as exc:
        raise closed from exc
    return _Output(stream)


def _silence_stdout(stream: Any) -> None:
    """Points `stream`'s descriptor at /dev/null, so that Python's last flush at exit
    cannot fail again (nothing to do for a closed stdout or a caller's buffer)."""
    try:
        fd = stream.fileno()
    except (AttributeError, OSError, ValueError):
        return
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, fd)
    os.close(devnull)


def _dispatch(args: object) -> int:
    command = args.command  # type: ignore[attr-defined]
    if command == "agent":
        from espia.agent.server import agent_command

        return agent_command(args, _Stopper)
    if command == "image":
        from espia.cli.image import run as image_command

        return image_command(args)
    if command == "run":
        from espia.cli.run import run

        return run(args, _Stopper)
    if command == "metrics":
        from espia.cli import metrics

        return metrics.run(args, _Stopper)
    if command == "diagnose":
        from espia.cli import diagnose

        return diagnose.run(args, _Stopper)
    if command == "list-containers":
        from espia.cli.containers import list_containers_command

        return list_containers_command(args, _Stopper)
    from espia.cli.gadget import run_gadget_command

    return run_gadget_command(args, _Stopper)


def _tune_gc() -> None:
    """Events are not cyclic: reference counting frees them.  The cyclic collector would
    still scan every live object once per 700 allocations, a large share of the
    per-event cost under load; so freeze what start-up made and let it run rarely."""
    gc.freeze()
    gc.set_threshold(50_000, 50, 100)
    gc.enable()


def main(argv: list[str] | None = None) -> int:
    """espia's command line (`argv`, or the process's own arguments).

    The cyclic collector is off until the command runs (_tune_gc): start-up
    imports and builds thousands of long-lived objects (modules, classes, the
    parser), and collecting them every 700 allocations found nothing to free
    but cost some 8% of the imports' time."""
    collecting = gc.isenabled()
    gc.disable()
    try:
        code = guarded(lambda: _main(argv))
    finally:  # a caller's own process (argv given) keeps its collector as it was
        if collecting:
            gc.enable()
        else:
            gc.disable()
    if argv is None:  # the process's own command line: it ends here
        _exit(code)
    return code


def _exit(code: int) -> NoReturn:
    """Ends the process without Python's own teardown, which frees every module and object
    one by one (20-30 ms of an exit, on a busy machine): by now espia has closed what it
    held in the kernel (links, programs, maps) and in runtimes, and the kernel frees the
    rest.  What is still buffered for stdout and stderr is written first; a stdout that
    cannot take it is an error line, as during the run."""
    try:
        if sys.stdout is not None:  # None: closed when Python started (said already)
            sys.stdout.flush()
    except BrokenPipeError:
        pass  # the reader went away (`| head`): a quiet end
    except (OSError, ValueError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else exc
        _print_error(OutputError(f"write output: {reason}"))
        code = code or OutputError.exit_code
    with contextlib.suppress(AttributeError, OSError, ValueError):
        sys.stderr.flush()
    os._exit(code)


def guarded(run: Callable[[], int]) -> int:
    """`run()`, with every way out an exit code: errors as one line, Ctrl-C and a closed
    pipe as a quiet 0, output that cannot be written as one line (the cluster door's entry
    point shares it)."""
    stdout = sys.stdout
    try:
        sys.stdout = _open_output()  # type: ignore[assignment]
        return run()
    except EspiaError as error:
        if isinstance(error, OutputError):
            _silence_stdout(stdout)
        _print_error(error)
        return error.exit_code
    except KeyboardInterrupt:
        return 0
    except BrokenPipeError:
        # The reader went away (`| head`): not an error; keep Python quiet at exit.
        _silence_stdout(stdout)
        return 0
    finally:
        sys.stdout = stdout


def _main(argv: list[str] | None) -> int:
    from espia.cli.parser import build_parser

    parser = build_parser(argv)
    try:
        args = parser.parse_args(argv)
    except SystemExit as done:
        sys.stdout.flush()  # --help: its text must reach stdout, or say why not
        raise done
    if args.command is None:
        parser.print_help()
        sys.stdout.flush()
        return 2
    if args.command == "version":
        print(f"espia v{__version__}")
        sys.stdout.flush()
        return 0
    if args.command in ("completion", "man"):
        from espia.cli import completion, manpage

        return (completion if args.command == "completion" else manpage).run(args, parser)
    _tune_gc()
    logger = logging.getLogger("espia")
    logger.addHandler(_WarningLine())
    logger.propagate = False
    return _dispatch(args)


# Loaded: from here on main() handles Ctrl-C (KeyboardInterrupt), and a program that
# imports this module keeps its own handler.
signal.signal(signal.SIGINT, _interrupt_handler or signal.default_int_handler)

if __name__ == "__main__":
    sys.exit(main())
