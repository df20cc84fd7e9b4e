"""espia's entry points: parse, run, and turn every error into one line and an exit code.

Exit codes: 0 done (Ctrl-C included), 1 runtime error, 2 usage error.
"""

from __future__ import annotations

import gc
import logging
import os
import signal
import sys
from collections.abc import Callable
from types import FrameType

from espia._version import __version__
from espia.errors import EspiaError


def _print_error(error: EspiaError) -> None:
    lines = str(error).splitlines() or [type(error).__name__]
    sys.stderr.write(f"espia: {lines[0]}\n")
    for line in lines[1:]:
        sys.stderr.write(f"  {line}\n")


class _Stopper:
    """First SIGINT/SIGTERM: stop gracefully (drain, detach, exit 0). Second: stop now."""

    def __init__(self, stop: Callable[[], None]) -> None:
        self._stop = stop
        self._signalled = False
        self._previous = {
            sig: signal.signal(sig, self._handle) for sig in (signal.SIGINT, signal.SIGTERM)
        }

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        if self._signalled:
            raise KeyboardInterrupt
        self._signalled = True
        self._stop()

    def restore(self) -> None:
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)


class _WarningLine(logging.Handler):
    """espia's warnings (a runtime that went away...) as `espia: warning: ...` lines."""

    def emit(self, record: logging.LogRecord) -> None:
        sys.stderr.write(f"espia: warning: {record.getMessage()}\n")
        sys.stderr.flush()


def _dispatch(args: object) -> int:
    command = args.command  # type: ignore[attr-defined]
    if command == "agent":
        from espia.agent.server import agent_command

        return agent_command(args, _Stopper)
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


def main(argv: list[str] | None = None) -> int:
    from espia.cli.parser import build_parser

    def run() -> int:
        parser = build_parser()
        args = parser.parse_args(argv)
        if args.command is None:
            parser.print_help()
            return 2
        if args.command == "version":
            print(f"espia v{__version__}")
            return 0
        _tune_gc()
        logger = logging.getLogger("espia")
        logger.addHandler(_WarningLine())
        logger.propagate = False
        return _dispatch(args)

    return guarded(run)


def guarded(run: Callable[[], int]) -> int:
    """`run()`, with every way out an exit code: errors as one line, Ctrl-C and a closed
    pipe as a quiet 0 (the cluster door's entry point shares it)."""
    try:
        return run()
    except EspiaError as error:
        _print_error(error)
        return error.exit_code
    except KeyboardInterrupt:
        return 0
    except BrokenPipeError:
        # The reader went away (`| head`): not an error; keep Python quiet at exit.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 0


if __name__ == "__main__":
    sys.exit(main())
