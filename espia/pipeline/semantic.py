"""The stages a gadget's events need because of their semantic types.

A semantic type may name a stage (``SemanticType.stage``: a DNS message
needs pairing with its query); this is the one place where the engine turns
those names into stages, so a user gadget that declares the same type gets
the same stage.  Stages are imported only when a gadget needs them.
"""

from __future__ import annotations

from importlib import import_module

from espia.gadget.fields import SEMANTIC_TYPES
from espia.gadget.schema import EventSchema, semantic_typedef
from espia.pipeline.operator import Operator


def semantic_stages(schema: EventSchema) -> list[Operator]:
    """A stage for each stage-bearing semantic type of `schema`'s members, in member order."""
    names: dict[str, None] = {}
    for leaf in schema.leaves:
        typedef = semantic_typedef(leaf)
        stage = SEMANTIC_TYPES[typedef].stage if typedef else None
        if stage:
            names[stage] = None
    stages = []
    for name in names:
        module, _, cls = name.partition(":")
        stages.append(getattr(import_module(module), cls)(schema))
    return stages
