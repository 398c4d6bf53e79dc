"""Job ids that are not ours get a 404 and never reach Redis as a key or a pattern."""

from __future__ import annotations

import re
import time
import uuid

import httpx

from scripts.stack import LocalStack
from tests.support.problems import assert_safe_problem
from tests.support.redis_monitor import redis_commands

# Raw paths, percent-encoded where a client would have to.
HOSTILE_IDS = [
    "*",
    "irisq:*",
    "%2A",
    "[a-f]*",
    "?" * 32,
    "0123456789abcdef0123456789abcde*",
    "0123456789ABCDEF0123456789ABCDEF",  # our ids are lower-case hex
    "0123456789abcdef0123456789abcde",  # one short
    "0123456789abcdef0123456789abcdef0",  # one long
    "..%2F..%2Fmetrics",
    "..%2F..%2F..%2Fetc%2Fpasswd",
    "%2E%2E",
    "%00",
    "0123456789abcdef0123456789abcdef%00",
    "0123456789abcdef0123456789abcdef%0D%0AFLUSHALL",
    "0123456789abcdef0123456789abcdef%0A",  # `$` alone would accept the trailing newline
    "job%20id",
    "%F0%9F%92%A5",
    "a" * 65,
    "f" * 8_000,
    "x" * 60_000,
]
# Fragments of those ids (decoded): none may appear in any command Redis runs.
HOSTILE_FRAGMENTS = ["irisq:*", "[a-f]", "????", "abcde*", "ABCDEF", "../", "passwd", "FLUSHALL",
                     "job id", "a" * 65, "f" * 33, "x" * 100]  # fmt: skip
# Commands that walk or wipe the keyspace: never needed to read one job.
KEYSPACE_COMMANDS = {"keys", "scan", "flushall", "flushdb"}
JOB_KEY = re.compile(r'"irisq:job:([^"]*)"')


def test_ids_that_are_not_ours_get_404_and_never_reach_redis(running_stack: LocalStack) -> None:
    ours_but_unknown = uuid.uuid4().hex
    with (
        httpx.Client(base_url=running_stack.base_url, timeout=10) as http,
        redis_commands(running_stack.redis_port, running_stack.workdir) as seen,
    ):
        for job_id in HOSTILE_IDS:
            started = time.monotonic()
            response = http.get(f"/jobs/{job_id}")
            assert time.monotonic() - started < 2
            assert_safe_problem(response, 404)
        assert_safe_problem(http.get(f"/jobs/{ours_but_unknown}"), 404)

    commands = [line.split('"', 1)[1] for line in seen if '"' in line]
    assert any(f'"irisq:job:{ours_but_unknown}"' in c for c in commands), commands[-20:]
    for command in commands:
        assert command.split('"', 1)[0].lower() not in KEYSPACE_COMMANDS, command
        for job_id in JOB_KEY.findall(command):
            assert re.fullmatch(r"[0-9a-f]{32}", job_id), command
        for fragment in HOSTILE_FRAGMENTS:
            assert fragment not in command, command
