"""`make worker`: one more worker beside a running `make run`, in the foreground.

It becomes `python -m worker` (Ctrl-C stops it) with what `make run` gives its own workers:
a metrics port that is free, a node name of its own (the exporter labels workers by the part
after "@"), the same model, and WORKER_TARGETS_DIR set to the folder `make run`'s Prometheus
discovers workers from. Each of these can be set in the environment instead.
"""

from __future__ import annotations

import os
import socket
import sys

from scripts.run_local import RunSettings
from scripts.stack import command, free_port, worker_targets_dir


def worker_env(environ: dict[str, str]) -> dict[str, str]:
    run = RunSettings()
    env = dict(environ)
    port = env.setdefault("WORKER_METRICS_PORT", str(free_port()))
    env.setdefault("WORKER_NAME", f"irisq@{socket.gethostname()}-{port}")
    env.setdefault("WORKER_TARGETS_DIR", str(worker_targets_dir(run.irisq_run_dir)))
    env.setdefault("MODEL_DIR", str(run.model_dir))
    return env


def main() -> None:
    env = worker_env(dict(os.environ))
    print(
        f"starting worker {env['WORKER_NAME']}, metrics on port {env['WORKER_METRICS_PORT']}",
        flush=True,
    )
    argv = command("worker") + sys.argv[1:]
    # exec: the worker itself gets Ctrl-C and removes its discovery file when it stops.
    os.execve(argv[0], argv, env)  # noqa: S606 (the project's own interpreter)


if __name__ == "__main__":
    main()
