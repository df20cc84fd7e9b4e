"""The types of signals: their numbers by name, and what the kernel did with one."""

from __future__ import annotations

import signal

from espia.gadget.fields import ValueKind, memoized
from espia.semantic import SemanticType, register


def signal_name(value: int) -> str:
    """ "SIGKILL" for 9, "SIGRTMIN+3" for 37; the number for anything else."""
    if 0 < value < signal.SIGRTMIN:
        try:
            return signal.Signals(value).name
        except ValueError:
            return str(value)
    if signal.SIGRTMIN <= value <= signal.SIGRTMAX:
        offset = value - signal.SIGRTMIN
        return f"SIGRTMIN+{offset}" if offset else "SIGRTMIN"
    return str(value)


def signal_number(text: str) -> int:
    """9 for "SIGKILL", "kill", "sigkill" or "9"; 37 for "SIGRTMIN+3"; a ValueError otherwise."""
    name = text.strip().upper()
    if name.isdigit():
        number = int(name)
    else:
        name = name if name.startswith("SIG") else f"SIG{name}"
        base, plus, offset = name.partition("+")
        if base == "SIGRTMIN" and (not plus or offset.isdigit()):
            number = signal.SIGRTMIN + (int(offset) if plus else 0)
        elif name in signal.Signals.__members__:
            number = signal.Signals[name].value
        else:
            raise ValueError(f"{text!r} is not a signal (a name such as SIGKILL, or a number)")
    if not 0 < number <= signal.SIGRTMAX:
        raise ValueError(f"{text!r} is not a signal number (1 to {int(signal.SIGRTMAX)})")
    return int(number)


# The result argument of signal/signal_generate (include/trace/events/signal.h).
# 255: no signal was sent (types.h).
SIGNAL_RESULTS = {
    0: "delivered",
    1: "ignored",
    2: "pending",
    3: "overflow",
    4: "lost-info",
    255: "",
}


def signal_result(value: int) -> str:
    return SIGNAL_RESULTS.get(value, str(value))


register(
    "gadget_signal",
    SemanticType(
        ValueKind.INT,
        render=memoized(signal_name),
        json_text=True,
        width=9,
        parse=str.upper,
        value=signal_number,
    ),
)
register(
    "gadget_signal_result",
    SemanticType(
        ValueKind.INT, render=signal_result, json_text=True, hidden=True, width=9, parse=str.lower
    ),
)
