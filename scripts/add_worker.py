"""`make worker`: one more worker beside a running `make run`, in the foreground.

It becomes `python -m worker` (Ctrl-C stops it) with what `make run` gives its own workers:
`make run`'s Redis, a metrics port that is free, a node name of its own (the exporter labels
workers by the part after "@"), the same model, and WORKER_TARGETS_DIR set to the folder
`make run`'s Prometheus discovers workers from. Each of these can be set in the environment
instead: REDIS_URL, REDIS_HOST or REDIS_PORT for a Redis that `make run` was given.
"""

from __future__ import annotations

import os
import socket
import sys

from contract.settings import SharedSettings
from scripts.run_local import RunSettings, given_redis, redis_url_note, shown_url
from scripts.stack import command, free_port, redis_answers, worker_targets_dir


class NoRedis(Exception):
    """No Redis for the worker: no `make run` with its own, and none named."""


def redis_url(run: RunSettings, redis: SharedSettings) -> tuple[str, str]:
    """The Redis to join and where that choice comes from, for the start-up line."""
    given = given_redis(redis)
    if given:
        return redis.redis_dsn, " and ".join(given)
    note = redis_url_note(run.irisq_run_dir)
    if not note.exists():
        raise NoRedis(
            f"no `make run` with a Redis of its own is running ({note} is missing): start "
            "`make run` first, or set REDIS_URL to the Redis the other workers use"
        )
    return note.read_text().strip(), f"make run's, from {note}"


def worker_env(environ: dict[str, str], run: RunSettings, url: str) -> dict[str, str]:
    env = dict(environ)
    env["REDIS_URL"] = url
    port = env.setdefault("WORKER_METRICS_PORT", str(free_port()))
    env.setdefault("WORKER_NAME", f"irisq@{socket.gethostname()}-{port}")
    env.setdefault("WORKER_TARGETS_DIR", str(worker_targets_dir(run.irisq_run_dir)))
    env.setdefault("MODEL_DIR", str(run.model_dir))
    return env


def main() -> None:
    run = RunSettings()
    try:
        url, source = redis_url(run, SharedSettings())
    except NoRedis as exc:
        sys.exit(f"make worker: {exc}")
    # A worker keeps retrying a broker that is gone (a note left by a make run killed
    # outright): name it now instead.
    if not redis_answers(url):
        sys.exit(
            f"make worker: no Redis answers at {shown_url(url)} ({source}); is make run running?"
        )
    env = worker_env(dict(os.environ), run, url)
    print(
        f"starting worker {env['WORKER_NAME']}, metrics on port {env['WORKER_METRICS_PORT']}, "
        f"Redis {shown_url(url)} ({source})",
        flush=True,
    )
    argv = command("worker") + sys.argv[1:]
    # exec: the worker itself gets Ctrl-C and removes its discovery file when it stops.
    os.execve(argv[0], argv, env)  # noqa: S606 (the project's own interpreter)


if __name__ == "__main__":
    main()
