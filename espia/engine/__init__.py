"""The engine: gadgets run through one runtime protocol, whatever the door.

door (CLI, Python API; later the node agent's clients)
  -> Runtime.run(gadget, options) -> GadgetRun            runtime.py
       source: RingBufferTracer | UserSource | ...         tracer.py, user.py, source.py
         -> Pipeline: stages by priority, one lifecycle    pipeline.py
              (kernel configuration before load)           kernel.py
       beside it: the runtime's container service          containers.py
  <- batches of typed events, and a WireSchema value       wire.py
"""
