"""The command tree of an argparse parser: what completion scripts and the man page are
generated from, so that neither can fall out of step with the parser."""

from __future__ import annotations

import argparse
from collections.abc import Iterator
from dataclasses import dataclass


@dataclass(frozen=True)
class Option:
    """One flag of a command: its spellings, whether it takes a value, its choices."""

    flags: tuple[str, ...]
    metavar: str | None
    choices: tuple[str, ...]
    help: str
    group: str


@dataclass(frozen=True)
class Command:
    """`espia trace dns`: its words, help, flags, subcommands and examples (the epilog)."""

    path: tuple[str, ...]
    description: str
    options: tuple[Option, ...]
    subcommands: tuple[tuple[str, str], ...]  # (name, help), with a positional's choices
    epilog: str


def _options(parser: argparse.ArgumentParser) -> tuple[Option, ...]:
    groups = {
        id(action): group.title or ""
        for group in parser._action_groups
        for action in group._group_actions
    }
    found = []
    for action in parser._actions:
        if not action.option_strings or action.help == argparse.SUPPRESS:
            continue
        takes = action.nargs != 0
        metavar = action.metavar or (action.dest.upper() if takes else None)
        found.append(
            Option(
                flags=tuple(action.option_strings),
                metavar=str(metavar) if takes else None,
                choices=tuple(str(c) for c in action.choices or ()),
                help=str(action.help or ""),
                group=groups.get(id(action), ""),
            )
        )
    return tuple(found)


def _subparsers(parser: argparse.ArgumentParser) -> argparse._SubParsersAction | None:  # type: ignore[type-arg]
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return action
    return None


def walk(parser: argparse.ArgumentParser, path: tuple[str, ...] = ()) -> Iterator[Command]:
    """Every command of `parser`, the top one first, depth first, in the parser's order."""
    sub = _subparsers(parser)
    children: list[tuple[str, str, argparse.ArgumentParser]] = []
    if sub is not None:
        helps = {choice.dest: str(choice.help or "") for choice in sub._choices_actions}
        children = [(name, helps.get(name, ""), child) for name, child in sub.choices.items()]
    words = [
        (str(choice), str(action.help or ""))
        for action in parser._actions
        if not action.option_strings and not isinstance(action, argparse._SubParsersAction)
        for choice in action.choices or ()
    ]
    yield Command(
        path=path,
        description=str(parser.description or ""),
        options=_options(parser),
        subcommands=(*((name, about) for name, about, _ in children), *words),
        epilog=str(parser.epilog or ""),
    )
    for name, _, child in children:
        yield from walk(child, (*path, name))
