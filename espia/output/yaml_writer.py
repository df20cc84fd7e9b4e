"""YAML: one document per event, for humans and for tools that prefer YAML."""

from __future__ import annotations

from typing import Any, TextIO

from espia.gadget.event import Event
from espia.gadget.fields import Field


class YamlOutput:
    """A `---` document per event (with `lists`, per batch: a list); lost events as a
    `lost_events` document."""

    def __init__(
        self, fields: tuple[Field, ...], out: TextIO, err: TextIO, lists: bool = False
    ) -> None:
        import yaml  # lazily: only this output needs it at run time

        self.out = out
        self.err = err
        self._lists = lists
        fast = getattr(yaml, "CSafeDumper", yaml.SafeDumper)

        def dump(data: Any, dumper: Any = fast) -> str:
            return yaml.dump(
                data, Dumper=dumper, sort_keys=False, allow_unicode=True, explicit_start=True
            )

        def lossless(data: Any) -> str:
            """libyaml refuses the surrogates that stand for bytes that were not UTF-8:
            PyYAML's own emitter writes them as "\\uDCFF" escapes, which load back."""
            try:
                return dump(data)
            except UnicodeEncodeError:
                return dump(data, yaml.SafeDumper)

        self._dump = lossless

    def begin(self) -> None:
        pass

    def _document(self, data: dict[str, Any] | list[dict[str, Any]]) -> None:
        self.out.write(self._dump(data))

    def write(self, events: list[Event]) -> None:
        if self._lists:
            self._document([event.to_dict() for event in events])
        else:
            for event in events:
                self._document(event.to_dict())
        self.out.flush()

    def lost(self, count: int, total: int, node: str = "") -> None:
        record: dict[str, Any] = {"lost_events": count, "lost_total": total}
        if node:
            record["node"] = node
        self._document(record)
        self.out.flush()

    def end(self) -> None:
        self.out.flush()
