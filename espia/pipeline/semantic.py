"""The stages a gadget's events need because of their semantic types.

A semantic type may bring a stage (``SemanticType.stage``: a DNS message
needs pairing with its query); this is the one place where the engine asks
for them, so a user gadget that declares the same type gets the same stage.
A type's stage is imported only when a gadget needs it.
"""

from __future__ import annotations

from espia import semantic
from espia.gadget.schema import EventSchema
from espia.pipeline.operator import Operator


def semantic_stages(schema: EventSchema) -> list[Operator]:
    """A stage for each stage-bearing semantic type of `schema`'s members, in member order."""
    makers: dict[semantic.Stage, None] = {}  # each once, in member order
    for leaf in schema.leaves:
        stage = semantic.of_leaf(leaf).stage
        if stage is not None:
            makers[stage] = None
    return [make(schema) for make in makers]
