#!/bin/sh
# Regenerate cri_test_pb2.py from cri_test.proto (needs grpcio-tools; run from anywhere).
set -eu; cd "$(dirname "$0")/../.."; python -m grpc_tools.protoc -I . --python_out=. tests/support/cri_test.proto; sed -i '1i # ruff: noqa' tests/support/cri_test_pb2.py
