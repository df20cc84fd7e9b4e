#!/bin/sh
# Regenerate the Python modules from the .proto subsets (needs grpcio-tools and ruff; run from anywhere).
set -eu; cd "$(dirname "$0")/../../.."; d=espia/agent/_proto; rm -f $d/*_pb2*.py*; python -m grpc_tools.protoc -I . --python_out=. --pyi_out=. $d/*.proto; python -m grpc_tools.protoc -I . --grpc_python_out=. $(grep -l '^service ' $d/*.proto); sed -i '1i # ruff: noqa' $d/*_pb2*.py*; ruff format -q $d
