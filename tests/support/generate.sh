#!/bin/sh
# Regenerate cri_test_pb2.py from cri_test.proto (needs grpcio-tools and ruff; run from anywhere).
set -eu; cd "$(dirname "$0")/../.."; f=tests/support/cri_test; python -m grpc_tools.protoc -I . --python_out=. $f.proto; sed -i '1i # ruff: noqa' ${f}_pb2.py; ruff format -q ${f}_pb2.py
