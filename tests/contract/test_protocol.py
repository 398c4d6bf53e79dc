"""The protocol's parts agree with each other: Lua scripts, job record, messages, payload."""

from __future__ import annotations

import re
from typing import get_args, get_type_hints

import orjson
import pytest

from contract.jobs import JOB_KEY_PREFIX, JobField, JobStatus, is_job_id, new_job_id
from contract.lua_scripts import Script, source
from contract.messages import (
    DoneOutcome,
    FailedOutcome,
    MalformedMessage,
    done_outcome,
    failed_outcome,
    parse,
    started_message,
)
from contract.rollout import RolloutField
from contract.tasks import pack_rows, readable_job_ids, task_job

# Words in quotes in the scripts that are neither Redis commands nor job-record names.
LUA_WORDS = {"ok", "hash", "none", "null"}
REDIS_COMMANDS = {"MGET", "HSET", "HGET", "ZADD", "ZSCORE", "ZREM", "DEL", "SET", "EX", "TYPE",
                  "PUBLISH", "GET", "INCRBY", "MEMORY", "USAGE", "SAMPLES", "ZCARD",
                  "ZREMRANGEBYRANK"}  # fmt: skip


@pytest.mark.parametrize("script", list(Script))
def test_every_script_spells_only_the_records_own_names(script: Script) -> None:
    # The scripts write the job record by name: a renamed field or status must rename them.
    code = re.sub(r"--[^\n]*", "", source(script))
    quoted = set(re.findall(r"'([a-z_]+(?::[a-z_]+)*:?)'", code, flags=re.IGNORECASE))
    known = {*JobField, *JobStatus, *RolloutField, *REDIS_COMMANDS, *LUA_WORDS, JOB_KEY_PREFIX}
    assert quoted <= known, f"{script}.lua spells {sorted(quoted - known)}"


@pytest.mark.parametrize("script", list(Script))
def test_scripts_find_job_ids_after_the_contracts_key_prefix(script: Script) -> None:
    lua = source(script)
    if "string.len(" in lua:
        assert f"string.len('{JOB_KEY_PREFIX}')" in lua


def test_outcome_statuses_are_the_job_statuses() -> None:
    assert get_args(get_type_hints(DoneOutcome)["status"]) == (JobStatus.DONE.value,)
    assert get_args(get_type_hints(FailedOutcome)["status"]) == (JobStatus.FAILED.value,)


def test_job_ids_are_32_hex_digits_matched_whole() -> None:
    job_id = new_job_id()
    assert is_job_id(job_id)
    assert len({new_job_id() for _ in range(100)}) == 100
    assert not is_job_id(job_id + "\n")
    assert not is_job_id(job_id.upper())
    assert not is_job_id(job_id[:-1])


def test_messages_read_back_as_written() -> None:
    assert parse(started_message("t1", ["a", "b"], 1733500000.125)) == {
        "task_id": "t1",
        "started": True,
        "started_at": 1733500000.125,
        "jobs": ["a", "b"],
    }
    # A start from a worker that names no jobs nor a start time.
    assert parse(b'{"task_id":"t1","started":true}') == {
        "task_id": "t1",
        "started": True,
        "started_at": None,
        "jobs": [],
    }
    results = b'[{"prediction":"setosa"}]'
    done = {"status": "done", "model_version": "v1", "counts": {"setosa": 1}}
    line = {
        "task_id": "t2",
        "jobs": {
            "a": {**done, "results": [0, 0]},
            "b": failed_outcome("x"),
            "c": {**done, "results": [0, len(results)]},
        },
    }
    assert parse(orjson.dumps(line) + b"\n" + results) == {
        "task_id": "t2",
        "jobs": {
            "a": done_outcome("v1", {"setosa": 1}, b""),
            "b": failed_outcome("x"),
            "c": done_outcome("v1", {"setosa": 1}, results),
        },
    }
    # The sweeper's outcome has no task.
    assert parse(b'{"task_id":null,"jobs":{}}') == {"task_id": None, "jobs": {}}


@pytest.mark.parametrize(
    "data",
    [b"not json", b"[]", b'{"task_id":1,"jobs":{}}', b'{"task_id":"t"}',
     b'{"task_id":"t","jobs":{"a":{"status":"queued"}}}', b'{"task_id":"t","jobs":[]}',
     # A start whose jobs are no list, or whose start time is no number.
     b'{"task_id":"t","started":true,"jobs":{"a":1}}',
     b'{"task_id":"t","started":true,"jobs":[],"started_at":"now"}',
     # A done outcome whose results lie outside the tail, or without its counts.
     b'{"task_id":"t","jobs":{"a":{"status":"done","model_version":"v","counts":{},'
     b'"results":[0,3]}}}\n[]',
     b'{"task_id":"t","jobs":{"a":{"status":"done","model_version":"v","results":[0,2]}}}\n[]'],
)  # fmt: skip
def test_anything_else_on_the_channel_is_malformed(data: bytes) -> None:
    with pytest.raises(MalformedMessage):
        parse(data)


def test_job_ids_of_a_payload_are_read_however_malformed_the_rest() -> None:
    payload = [task_job("a", [[1, 2, 3, 4]]), {"items": []}, {"job_id": 5}, "x", task_job("b", [])]
    assert readable_job_ids(payload) == ["a", "b"]
    assert readable_job_ids({"job_id": "a"}) == []


def test_a_task_job_carries_its_cache_flag_only_when_it_is_kept_out_of_the_cache() -> None:
    assert task_job("a", [[1, 2, 3, 4]]) == {"job_id": "a", "rows": pack_rows([[1, 2, 3, 4]])}
    assert task_job("a", [], cache=False) == {"job_id": "a", "rows": "", "cache": False}
