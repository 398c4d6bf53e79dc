"""A worker's entry for Prometheus' file-based discovery (`file_sd_configs`).

With WORKER_TARGETS_DIR set, a worker writes `worker-<pid>.json` there once its metrics
endpoint listens, and removes it when it stops: `make run`'s Prometheus reads every such file,
so a worker started by hand is scraped without anyone editing a file. Compose needs none of
this: Docker's DNS lists the replicas.
"""

from __future__ import annotations

import contextlib
import json
import os
from pathlib import Path

PREFIX = "worker-"


def target_file(directory: Path, pid: int) -> Path:
    return directory / f"{PREFIX}{pid}.json"


def announce(directory: Path, node: str, host: str, port: int) -> Path:
    """Write this process's target, labelled with its node name; returns the file."""
    directory.mkdir(parents=True, exist_ok=True)
    _forget_dead(directory)
    # A worker listening on every interface is reached on the loopback one.
    address = "127.0.0.1" if host in ("0.0.0.0", "") else host
    entry = [{"targets": [f"{address}:{port}"], "labels": {"worker": node}}]
    path = target_file(directory, os.getpid())
    # Written beside and renamed: Prometheus never reads half a file, nor the .tmp one.
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(entry))
    os.replace(tmp, path)
    return path


def withdraw(path: Path) -> None:
    path.unlink(missing_ok=True)


def _forget_dead(directory: Path) -> None:
    """Remove the files of workers that died without removing theirs (SIGKILL, OOM)."""
    for path in directory.glob(f"{PREFIX}*.json"):
        pid = path.stem.removeprefix(PREFIX)
        if pid.isdigit() and not process_alive(int(pid)):
            with contextlib.suppress(FileNotFoundError):
                path.unlink()


def process_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
