"""Every command a Redis server runs, seen through `redis-cli MONITOR`."""

from __future__ import annotations

import contextlib
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path

from scripts.stack import wait_until


@contextlib.contextmanager
def redis_commands(port: int, workdir: Path) -> Iterator[list[str]]:
    """Every command Redis runs inside the block, as `redis-cli MONITOR` prints it."""
    log = workdir / f"monitor-{uuid.uuid4().hex}.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            ["redis-cli", "-p", str(port), "monitor"], stdout=out, stderr=subprocess.STDOUT
        )
    seen: list[str] = []
    try:
        wait_until(lambda: log.read_text().startswith("OK"), 10, "redis-cli monitor")
        yield seen
        # MONITOR has printed everything that ran before this marker once the marker shows.
        marker = uuid.uuid4().hex
        subprocess.run(
            ["redis-cli", "-p", str(port), "echo", marker], check=True, capture_output=True
        )
        wait_until(lambda: marker in log.read_text(), 10, "monitor to catch up")
        seen.extend(log.read_text(errors="replace").splitlines()[1:])
    finally:
        process.terminate()
        process.wait(10)
