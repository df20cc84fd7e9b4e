"""Generated protobuf and gRPC modules of the agent's service (``agent.proto``).

``generate.sh`` rebuilds the ``*_pb2*.py`` files from the ``.proto``.  Only the
agent and the cluster client import them: the local door never pays for grpc.
"""
