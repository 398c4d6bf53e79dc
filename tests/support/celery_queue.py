"""Reading Celery's queue as a worker does: a message's body in whatever encoding it says."""

from __future__ import annotations

import base64
from typing import Any, cast

import orjson
from kombu.utils import json as kombu_json

from contract.tasks import TaskJob


def task_message(raw: bytes | str) -> dict[str, Any]:
    """A queued message as kombu's Redis transport wrote it (its own JSON, bytes marked)."""
    return cast(dict[str, Any], kombu_json.loads(raw))  # type: ignore[no-untyped-call]


def message_body(raw: bytes | str) -> bytes:
    """A queued message's body; kombu's Redis transport publishes it as it is or in base64,
    and says which in the message (`body_encoding`)."""
    message = task_message(raw)
    body = message["body"]
    if message["properties"].get("body_encoding") == "base64":
        return base64.b64decode(body)
    return body if isinstance(body, bytes) else body.encode()


def task_jobs(raw: bytes | str) -> list[TaskJob]:
    """The jobs of a queued predict task."""
    args, _kwargs, _embed = orjson.loads(message_body(raw))
    return cast(list[TaskJob], args[0])
