"""The compose redis service's own command, run by a real redis-server on a free port."""

from __future__ import annotations

import shlex
import subprocess
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest
import redis

from scripts.stack import RECORD_ENCODING, free_port, wait_until
from tests.support.stackfiles import environment, services

PASSWORD = "deploytest0123"


def redis_command(port: int) -> list[str]:
    """compose's command for redis, with `$$` as compose passes it, on a private port."""
    argv = [a.replace("$$", "$") for a in services()["redis"]["command"]]
    assert argv[:2] == ["sh", "-c"]
    script = argv[2].replace(
        "exec redis-server -", f"exec redis-server - --port {port} --bind 127.0.0.1", 1
    )
    assert script != argv[2], "the command no longer starts with `exec redis-server -`"
    return ["sh", "-c", script]


def start(tmp_path: Path, maxmemory: str = "256mb") -> tuple[subprocess.Popen[bytes], int]:
    port = free_port()
    env = {"REDISCLI_AUTH": PASSWORD, "REDIS_MAXMEMORY": maxmemory, "PATH": "/usr/bin:/bin"}
    with (tmp_path / "redis.log").open("wb") as log:
        process = subprocess.Popen(
            redis_command(port),
            env=env,
            cwd=tmp_path,  # the append-only file lands here
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    client = redis.Redis(port=port, password=PASSWORD, socket_timeout=2)
    wait_until(lambda: bool(client.ping()), 10, "redis from the compose command")
    client.close()
    return process, port


@pytest.fixture
def compose_redis(tmp_path: Path) -> Iterator[tuple[subprocess.Popen[bytes], int]]:
    process, port = start(tmp_path)
    try:
        yield process, port
    finally:
        process.terminate()
        process.wait(10)


def test_the_password_is_required_and_not_on_the_command_line(
    compose_redis: tuple[subprocess.Popen[bytes], int],
) -> None:
    process, port = compose_redis
    # No retries: redis-py would otherwise back off and retry the refused command.
    with pytest.raises(redis.AuthenticationError), redis.Redis(port=port, retry=None) as anon:
        anon.ping()
    assert PASSWORD not in " ".join(psutil.Process(process.pid).cmdline())


def test_redis_is_configured_as_documented(
    compose_redis: tuple[subprocess.Popen[bytes], int],
) -> None:
    _, port = compose_redis
    with redis.Redis(port=port, password=PASSWORD, decode_responses=True) as client:
        config = client.config_get("*")
    assert config["maxmemory-policy"] == "volatile-lru"
    assert int(config["maxmemory"]) == 256 * 1024 * 1024
    # The same compact job records as the local stack's Redis.
    assert ["--hash-max-listpack-value", config["hash-max-listpack-value"]] == RECORD_ENCODING
    assert config["appendonly"] == "yes"
    assert config["save"] == ""


def test_the_healthcheck_sees_pong_only_with_the_password(
    compose_redis: tuple[subprocess.Popen[bytes], int],
) -> None:
    _, port = compose_redis
    test = services()["redis"]["healthcheck"]["test"]
    assert test[0] == "CMD-SHELL"
    script = test[1].replace("redis-cli", f"redis-cli -p {port}")
    with_password = {"REDISCLI_AUTH": PASSWORD, "PATH": "/usr/bin:/bin"}
    assert subprocess.run(["sh", "-c", script], env=with_password, timeout=10).returncode == 0
    wrong = {**with_password, "REDISCLI_AUTH": "wrong"}
    assert subprocess.run(["sh", "-c", script], env=wrong, timeout=10).returncode != 0
    assert "REDISCLI_AUTH" in environment(services()["redis"])


def test_docker_stop_shuts_redis_down_cleanly(tmp_path: Path) -> None:
    """`exec` makes redis-server the process Docker signals: SIGTERM, and it saves and exits."""
    process, _ = start(tmp_path)
    process.terminate()
    assert process.wait(10) == 0
    assert "ready to exit" in (tmp_path / "redis.log").read_text()


def fill_with_tasks(client: redis.Redis, count: int) -> None:
    for i in range(count):
        client.rpush("celery", b"t" * 1000 + str(i).encode())


def test_eviction_spares_the_celery_queue(tmp_path: Path) -> None:
    """Memory full: cache entries (with a TTL) go, queued tasks (no TTL) stay."""
    process, port = start(tmp_path, maxmemory="4mb")
    try:
        with redis.Redis(port=port, password=PASSWORD) as client:
            tasks = [shlex.quote(f"task-{i}") * 20 for i in range(200)]
            client.rpush("celery", *tasks)
            for batch in range(100):
                with client.pipeline(transaction=False) as pipe:
                    for i in range(100):
                        pipe.set(f"irisq:pred:test:{batch}:{i}", b"x" * 200, ex=3600)
                    pipe.execute()
            assert client.llen("celery") == len(tasks)
            assert client.dbsize() < 1 + 100 * 100, "nothing was evicted: raise the fill"
            assert int(client.info("stats")["evicted_keys"]) > 0
            # Only untouchable keys left: a write fails loudly instead of dropping a task.
            client.flushdb()
            client.config_set("maxmemory", "2mb")
            with pytest.raises(redis.exceptions.OutOfMemoryError):
                fill_with_tasks(client, 10_000)
    finally:
        process.terminate()
        process.wait(10)
