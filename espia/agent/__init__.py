"""The node agent (`espia agent`) and the wire both cluster doors speak.

``server`` is the daemon a DaemonSet runs on every node; ``wire`` encodes
events in columns for the gRPC stream and decodes them on the client side;
``_proto`` holds the service's ``.proto`` and its generated modules.
Importing this package loads grpc: only the agent and ``kubectl espia`` do.
"""
