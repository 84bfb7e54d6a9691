#!/usr/bin/env bash
# Regenerate the gRPC stubs in daemon/stylize/v1 from protos/ (tests/test_stubs_fresh.py checks them).
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-.venv/bin/python}
"$PY" -m grpc_tools.protoc -Iprotos --python_out=daemon --pyi_out=daemon --grpc_python_out=daemon \
  protos/stylize/v1/stylize.proto
echo "stubs regenerated in daemon/stylize/v1"
