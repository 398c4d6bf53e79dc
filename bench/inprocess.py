"""`python -m bench.inprocess`: the gateway's CPU per request with no sockets and no wrk.

Drives the ASGI apps (the bare endpoint and the gateway, wired to a local stack's Redis and
workers) from coroutines in the same process, so the figure is the app's own cost: HTTP
parsing, the kernel and the load generator are out of it: the harness for a change to the
gateway's request path. `make bench` gives the whole-system figures.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import uvloop

from bench.bare import create_bare_app
from bench.run import BenchStack

FIXED = b'{"items":[{"sepal_length":5.1,"sepal_width":3.5,"petal_length":1.4,"petal_width":0.2}]}'
App = Callable[[dict[str, Any], Any, Any], Awaitable[None]]


def random_body() -> bytes:
    names = ("sepal_length", "sepal_width", "petal_length", "petal_width")
    item = ",".join(f'"{name}":{round(random.uniform(0.1, 8.0), 4)}' for name in names)
    return f'{{"items":[{{{item}}}]}}'.encode()


async def post(app: App, body: bytes) -> int:
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": "/predict",
        "raw_path": b"/predict",
        "query_string": b"",
        "root_path": "",
        "headers": [
            (b"host", b"bench"),
            (b"content-type", b"application/json"),
            (b"content-length", str(len(body)).encode()),
        ],
        "client": ("127.0.0.1", 1),
        "server": ("127.0.0.1", 80),
        "state": {},
    }
    delivered = False
    status = 0

    async def receive() -> dict[str, Any]:
        nonlocal delivered
        if delivered:  # a client that never disconnects
            await asyncio.Event().wait()
        delivered = True
        return {"type": "http.request", "body": body, "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        nonlocal status
        if message["type"] == "http.response.start":
            status = message["status"]

    await app(scope, receive, send)
    return status


async def drive(app: App, requests: int, concurrency: int, fresh: bool) -> tuple[float, int]:
    """CPU µs per request of this process, and the number of non-200 answers."""
    sent = errors = 0

    async def client() -> None:
        nonlocal sent, errors
        while sent < requests:
            sent += 1
            if await post(app, random_body() if fresh else FIXED) != 200:
                errors += 1

    cpu = time.process_time()
    await asyncio.gather(*(client() for _ in range(concurrency)))
    return 1e6 * (time.process_time() - cpu) / requests, errors


async def measure(args: argparse.Namespace, redis_url: str) -> None:
    os.environ["REDIS_URL"] = redis_url
    from gateway.app import create_app
    from gateway.settings import Settings

    gateway = create_app(Settings(log_level="WARNING"))
    async with gateway.router.lifespan_context(gateway):
        await asyncio.sleep(1)  # the model version read
        for name, app, fresh in (
            ("bare", create_bare_app(), False),
            ("cached", gateway, False),
            ("uncached", gateway, True),
        ):
            for concurrency in args.concurrency:
                await drive(app, args.requests // 10, concurrency, fresh)  # warm up
                runs = [await drive(app, args.requests, concurrency, fresh) for _ in range(3)]
                best = min(us for us, _ in runs)
                errors = sum(e for _, e in runs)
                print(f"{name:9s} c{concurrency:<3d} {best:6.0f} µs CPU/req  errors={errors}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--requests", type=int, default=10_000)
    parser.add_argument("--concurrency", type=int, nargs="+", default=[16, 64])
    parser.add_argument("--workers", type=int, default=1)
    args = parser.parse_args()
    stack = BenchStack(Path(tempfile.mkdtemp(prefix="irisq-inprocess-")), "prefork")
    try:
        stack.start(args.workers)
        uvloop.run(measure(args, str(stack.stack.redis_url)))
    finally:
        stack.stop()


if __name__ == "__main__":
    main()
