"""The committed gRPC stubs must be what grpcio-tools makes of protos/ today."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import REPO

grpc_tools = pytest.importorskip("grpc_tools")
from grpc_tools import protoc  # noqa: E402

PROTO = "stylize/v1/stylize.proto"
GENERATED = ("stylize_pb2.py", "stylize_pb2.pyi", "stylize_pb2_grpc.py")


def test_committed_stubs_match_the_proto(tmp_path: Path) -> None:
    include = Path(grpc_tools.__file__).parent / "_proto"
    status = protoc.main(
        [
            "protoc",
            f"-I{REPO / 'protos'}",
            f"-I{include}",
            f"--python_out={tmp_path}",
            f"--pyi_out={tmp_path}",
            f"--grpc_python_out={tmp_path}",
            str(REPO / "protos" / PROTO),
        ]
    )
    assert status == 0
    for name in GENERATED:
        fresh = (tmp_path / "stylize" / "v1" / name).read_text()
        committed = (REPO / "daemon" / "stylize" / "v1" / name).read_text()
        assert fresh == committed, f"{name} is stale: run scripts/generate-stubs.sh"
