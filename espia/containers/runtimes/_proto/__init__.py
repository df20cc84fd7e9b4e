"""Generated protobuf and gRPC modules for containerd's native API and the CRI.

Each ``.proto`` here is a subset of the upstream file (same package, service
and field numbers, so the same bytes on the wire); ``generate.sh`` rebuilds the
``*_pb2*.py`` files. Nothing imports this package at espia's start-up: importing
protobuf and grpc costs ~100 ms, so the runtimes import it when they connect.
"""
