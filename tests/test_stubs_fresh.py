"""The committed gRPC stubs must be what grpcio-tools makes of protos/ today."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from conftest import REPO

pytest.importorskip("grpc_tools")

PROTO = "stylize/v1/stylize.proto"
GENERATED = ("stylize_pb2.py", "stylize_pb2.pyi", "stylize_pb2_grpc.py")


def test_committed_stubs_match_the_proto(tmp_path: Path) -> None:
    # protoc runs in its own process: loaded beside TensorFlow's protobuf it can crash
    command = [
        sys.executable, "-m", "grpc_tools.protoc", f"-I{REPO / 'protos'}",
        f"--python_out={tmp_path}", f"--pyi_out={tmp_path}", f"--grpc_python_out={tmp_path}",
        str(REPO / "protos" / PROTO),
    ]  # fmt: skip
    subprocess.run(command, check=True, cwd=REPO)
    for name in GENERATED:
        fresh = (tmp_path / "stylize" / "v1" / name).read_text()
        committed = (REPO / "daemon" / "stylize" / "v1" / name).read_text()
        assert fresh == committed, f"{name} is stale: run scripts/generate-stubs.sh"
