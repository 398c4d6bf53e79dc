"""The gRPC face's generated code: built from the shipped .proto, the six RPCs, and the same
wire as tritonclient's (Triton's .proto), importable in one process with it."""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

import pytest
from google.protobuf.descriptor import Descriptor, MethodDescriptor
from tritonclient.grpc import service_pb2 as triton_pb2

from gateway.oip_grpc import open_inference_grpc_pb2 as pb
from gateway.oip_grpc import open_inference_grpc_pb2_grpc as pb_grpc
from scripts.gen_grpc import PACKAGE, PROTO, PROTO_DIR, generate

ROOT = Path(__file__).resolve().parents[2]
SERVICE = "inference.GRPCInferenceService"
RPCS = ["ServerLive", "ServerReady", "ModelReady", "ServerMetadata", "ModelMetadata", "ModelInfer"]


def _methods() -> dict[str, MethodDescriptor]:
    service = pb.DESCRIPTOR.services_by_name["GRPCInferenceService"]
    return {method.name: method for method in service.methods}


def test_the_service_has_the_six_methods_of_the_protocol() -> None:
    service = pb.DESCRIPTOR.services_by_name["GRPCInferenceService"]
    assert service.full_name == SERVICE
    assert list(_methods()) == RPCS
    for name, method in _methods().items():
        assert method.input_type.name == f"{name}Request"
        assert method.output_type.name == f"{name}Response"
        assert not method.client_streaming
        assert not method.server_streaming
    assert all(callable(getattr(pb_grpc.GRPCInferenceServiceServicer, rpc)) for rpc in RPCS)


def _fields(message: Descriptor, seen: frozenset[str] = frozenset()) -> dict[str, tuple[int, int]]:
    """Every field of a message and of the messages in it: its path -> (number, type)."""
    fields = {}
    for field in message.fields:
        fields[field.name] = (field.number, field.type)
        nested = field.message_type
        if nested is not None and nested.full_name not in seen:
            inner = _fields(nested, seen | {message.full_name})
            fields.update({f"{field.name}.{path}": kind for path, kind in inner.items()})
    return fields


@pytest.mark.parametrize("rpc", RPCS)
def test_each_message_is_on_the_wire_as_tritonclient_writes_and_reads_it(rpc: str) -> None:
    """Triton's .proto (tritonclient's) has the same package, service and RPC names; each
    field it sends or reads has the same number and type here."""
    triton_method = triton_pb2.DESCRIPTOR.services_by_name["GRPCInferenceService"]
    theirs = triton_method.methods_by_name[rpc]
    ours = _methods()[rpc]
    assert theirs.full_name == ours.full_name == f"{SERVICE}.{rpc}"
    for mine, their in (
        (ours.input_type, theirs.input_type),
        (ours.output_type, theirs.output_type),
    ):
        assert mine.full_name == their.full_name
        our_fields, their_fields = _fields(mine), _fields(their)
        assert {path: our_fields.get(path) for path in their_fields} == their_fields


def test_the_generated_package_is_what_the_shipped_proto_makes(tmp_path: Path) -> None:
    """A .proto changed without `make grpc-code` (or a generator changed) shows here."""
    fresh = generate(tmp_path)
    generated = ROOT / PACKAGE
    names = sorted(path.name for path in fresh.iterdir())
    assert names == sorted(path.name for path in generated.iterdir() if path.is_file())
    for name in names:
        assert (fresh / name).read_bytes() == (generated / name).read_bytes(), name


def test_the_proto_is_the_specification_unchanged_as_its_notice_says() -> None:
    notice = (PROTO_DIR / "NOTICE").read_text()
    stated = re.search(r"sha256 of the file:\s+([0-9a-f]{64})", notice)
    assert stated, notice
    assert hashlib.sha256((PROTO_DIR / PROTO).read_bytes()).hexdigest() == stated.group(1)
    assert "Apache License" in (PROTO_DIR / "LICENSE").read_text()
