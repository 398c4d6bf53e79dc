"""compose's gateway replicas behind one address: the gateway-lb service and its nginx
configuration (deploy/compose/gateway-lb.conf), run by a real nginx in front of two real
gateways, with Docker's DNS answer (one address per replica) written as an upstream group."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import httpx
import numpy as np
import pytest
import tritonclient.grpc as grpcclient
from tritonclient.utils import InferenceServerException

from scripts.stack import LocalStack, free_port
from tests.deploy import dockerfile
from tests.support.event_streams import stream
from tests.support.items import fresh_body
from tests.support.jobs import wait_for_job
from tests.support.metrics import metric
from tests.support.nginx import running_nginx
from tests.support.processes import started_stack
from tests.support.stackfiles import (
    BUILT,
    GATEWAY_LB_CONF,
    bind_mounts,
    container_ports,
    services,
)
from tests.support.tensors import fresh_rows, predicted_items

HTTP_TARGET = "set $gateway http://gateway:8000;"
GRPC_TARGET = "set $gateway_grpc grpc://gateway:8001;"


def test_the_gateway_can_be_scaled_and_the_balancer_publishes_its_ports() -> None:
    gateway, balancer = services()["gateway"], services()["gateway-lb"]
    # Each would be claimed once: `--scale gateway=N` fails with any of them.
    for key in ("container_name", "ports", "hostname"):
        assert key not in gateway, f"gateway has {key}: it could not be scaled"
    published = {str(p).rsplit(":", 1)[1] for p in balancer["ports"]}
    assert published == {"8000", "8001"} == {str(p) for p in container_ports(gateway)}
    assert {8000, 8001} <= container_ports(balancer)
    mounts = dict(bind_mounts(balancer))
    assert mounts["./deploy/compose/gateway-lb.conf"] == "/etc/nginx/conf.d/default.conf"
    assert balancer["depends_on"]["gateway"]["condition"] == "service_healthy"


def test_the_balancer_runs_the_frontend_image_s_nginx() -> None:
    """One nginx version in the stack: the frontend image's base."""
    base = dockerfile.parse(BUILT["frontend"])[-1].base
    assert services()["gateway-lb"]["image"] == base


def test_the_balancer_config_targets_the_gateway_service_ports() -> None:
    conf = GATEWAY_LB_CONF.read_text()
    assert HTTP_TARGET in conf
    assert GRPC_TARGET in conf
    # Asked again at request time: replicas that come and go are found.
    assert re.search(r"resolver 127\.0\.0\.11 valid=\d+s", conf)
    assert re.findall(r"^\s*listen\s+(\d+)", conf, flags=re.M) == ["8000", "8001"]


@pytest.fixture(scope="module")
def two_gateways(
    tmp_path_factory: pytest.TempPathFactory, model_dir: Path
) -> Iterator[tuple[LocalStack, list[tuple[int, int]]]]:
    """Redis, a worker and two gateways, each with an HTTP and a gRPC port of its own."""
    with started_stack(tmp_path_factory.mktemp("stack"), model_dir) as stack:
        second = (free_port(), free_port())
        stack.start_gateway("gateway-b", API_PORT=str(second[0]), GRPC_PORT=str(second[1]))
        yield stack, [(stack.api_port, stack.grpc_port), second]


def balancer_block(http_port: int, grpc_port: int, http_target: str, grpc_target: str) -> str:
    """gateway-lb.conf listening on 127.0.0.1's ports, passing to the targets given (an
    upstream group's name, or host:port) in place of compose's `gateway` service."""
    block = (
        GATEWAY_LB_CONF.read_text()
        .replace(HTTP_TARGET, f"set $gateway http://{http_target};")
        .replace(GRPC_TARGET, f"set $gateway_grpc grpc://{grpc_target};")
        .replace("listen 8000;", f"listen 127.0.0.1:{http_port};")
        .replace("listen 8001 http2;", f"listen 127.0.0.1:{grpc_port} http2;")
    )
    assert http_target in block
    assert grpc_target in block
    return block


@pytest.fixture(scope="module")
def balancer(
    two_gateways: tuple[LocalStack, list[tuple[int, int]]],
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[str, str]]:
    """nginx with gateway-lb.conf in front of both gateways; its HTTP URL and gRPC address."""
    _, ports = two_gateways
    workdir = tmp_path_factory.mktemp("gateway-lb")
    http_port, grpc_port = free_port(), free_port()
    http_servers = "".join(f"server 127.0.0.1:{h};" for h, _ in ports)
    grpc_servers = "".join(f"server 127.0.0.1:{g};" for _, g in ports)
    upstreams = (
        f"upstream gateways {{ {http_servers} }}\nupstream gateways_grpc {{ {grpc_servers} }}\n"
    )
    block = balancer_block(http_port, grpc_port, "gateways", "gateways_grpc")
    with running_nginx(workdir, upstreams + block):
        yield f"http://127.0.0.1:{http_port}", f"127.0.0.1:{grpc_port}"


@pytest.fixture
def gateways(
    two_gateways: tuple[LocalStack, list[tuple[int, int]]],
) -> Iterator[list[httpx.Client]]:
    """A client for each gateway's own HTTP port."""
    clients = [
        httpx.Client(base_url=f"http://127.0.0.1:{h}", timeout=30) for h, _ in two_gateways[1]
    ]
    try:
        yield clients
    finally:
        for client in clients:
            client.close()


def test_requests_through_the_balancer_reach_every_gateway(
    gateways: list[httpx.Client], balancer: tuple[str, str]
) -> None:
    def answered() -> list[float]:
        return [metric(g, "http_requests_total", route="/predict", status="200") for g in gateways]

    before = answered()
    with httpx.Client(base_url=balancer[0], timeout=30) as http:
        for _ in range(20):
            assert http.post("/predict", json=fresh_body(1)).status_code == 200
        # Submitted through one gateway, read and streamed through whichever comes next.
        response = http.post("/predict", json=fresh_body(2), headers={"Prefer": "respond-async"})
        assert response.status_code == 202
        job = wait_for_job(http, response.json()["job_id"])
        assert job["status"] == "done"
        with stream(http, job["job_id"]) as events:
            finished = events.rest()[-1]
        assert (finished.name, finished.data) == ("done", job)
    served = [after - b for after, b in zip(answered(), before, strict=True)]
    assert sum(served) == 20
    assert min(served) >= 5, served


def test_grpc_through_the_balancer_reaches_every_gateway(
    two_gateways: tuple[LocalStack, list[tuple[int, int]]],
    gateways: list[httpx.Client],
    balancer: tuple[str, str],
) -> None:
    stack = two_gateways[0]
    infer = "ModelInfer"

    def calls() -> list[float]:
        return [metric(g, "grpc_server_handled_total", grpc_method=infer) for g in gateways]

    before = calls()
    rows = fresh_rows(3, "float64")
    for _ in range(10):
        # A connection each: gRPC keeps one per client, and nginx balances per request.
        client = grpcclient.InferenceServerClient(balancer[1])
        try:
            tensor = grpcclient.InferInput("input", list(rows.shape), "FP64")
            tensor.set_data_from_numpy(rows)
            result = client.infer("iris", [tensor])
            labels = [label.decode() for label in np.asarray(result.as_numpy("label")).tolist()]
        finally:
            client.close()
        with httpx.Client(base_url=stack.base_url, timeout=30) as http:
            assert labels == [item["prediction"] for item in predicted_items(http, rows)]
    served = [after - b for after, b in zip(calls(), before, strict=True)]
    assert sum(served) == 10
    assert min(served) >= 1, served


def test_with_every_gateway_down_the_balancer_answers_503_and_grpc_unavailable(
    tmp_path: Path,
) -> None:
    """Nothing listens where the gateways would: a problem+json 503 and gRPC's UNAVAILABLE."""
    http_port, grpc_port = free_port(), free_port()
    nowhere = (f"127.0.0.1:{free_port()}", f"127.0.0.1:{free_port()}")
    with running_nginx(tmp_path, balancer_block(http_port, grpc_port, *nowhere)):
        response = httpx.post(f"http://127.0.0.1:{http_port}/predict", json=fresh_body(1))
        assert response.status_code == 503
        assert response.headers["content-type"] == "application/problem+json"
        assert response.headers["retry-after"] == "5"
        assert response.json()["status"] == 503
        client = grpcclient.InferenceServerClient(f"127.0.0.1:{grpc_port}")
        try:
            with pytest.raises(InferenceServerException) as refused:
                client.is_server_live()
            assert refused.value.status() == "StatusCode.UNAVAILABLE"
        finally:
            client.close()
